import ControlPlane
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Server
@testable import ServingAPI

/// A concrete URI for a route pattern: each `{parameter}` becomes a served model's name.
func concreteURI(_ pattern: String) -> String {
  pattern.split(separator: "/", omittingEmptySubsequences: false)
    .map { $0.hasPrefix("{") || $0.hasPrefix(":") ? "smol" : String($0) }.joined(separator: "/")
}

let chatBody = #"{"model":"smol","messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0}"#

@Suite(.serialized) struct AuthTests {
  /// Walks the router's own route table, so a route added later without auth fails here.
  @Test func everyRouteButThePublicOnesNeedsAKey() async throws {
    let (server, plane, _) = try await makeServer()
    let routes = buildRouter(state: server.state).routes
    // (path, method) pairs: the router's descriptions are not Sendable, the test client's closure needs them to be.
    let guarded = routes.filter { !publicPaths.contains($0.path.description) }.map { ($0.path.description, $0.method) }
    #expect(guarded.count == routes.count - publicPaths.count)
    #expect(guarded.map(\.0).contains("/metrics"))
    #expect(guarded.count >= 6)
    let revoked = try await plane.key(.admin)
    _ = try await plane.cp.keys.revoke(id: revoked.record.id, by: .localOperator())
    let refusals: [(String, HTTPFields)] = [
      ("no key", [.contentType: "application/json"]),
      ("malformed key", [.contentType: "application/json", .authorization: "Bearer hk_nope"]),
      ("basic auth", [.contentType: "application/json", .authorization: "Basic dXNlcjpwYXNz"]),
      ("revoked key", authHeaders(revoked)),
    ]
    try await server.app.test(.router) { client in
      for route in guarded {
        for (why, headers) in refusals {
          let r = try await client.execute(uri: concreteURI(route.0), method: route.1, headers: headers, body: body(chatBody))
          #expect(r.status == .unauthorized, "\(route) with \(why)")
          #expect(r.headers[.wwwAuthenticate]?.hasPrefix("Bearer") == true, "\(route)")
          let e = try parse(r.body)["error"]
          #expect(e?["code"]?.string == "invalid_api_key" && e?["type"]?.string == "authentication_error", "\(route)")
          #expect(e?.object?.keys.contains("param") == true, "\(route): param must be present (null)")
        }
      }
      for path in publicPaths {
        let r = try await client.execute(uri: path, method: .get)
        #expect(r.status == .ok, "\(path)")
      }
    }
  }

  @Test func rolesAndPermissions() async throws {
    let (server, plane, _) = try await makeServer()
    let developer = authHeaders(try await plane.key(.developer))
    let viewer = authHeaders(try await plane.key(.viewer))
    let op = authHeaders(try await plane.key(.operator))
    try await server.app.test(.router) { client in
      /// "STATUS" for a success, "STATUS CODE" for an error.
      func status(_ uri: String, _ method: HTTPRequest.Method, _ h: HTTPFields) async throws -> String {
        let r = try await client.execute(uri: uri, method: method, headers: h, body: method == .post ? body(chatBody) : nil)
        let code = (try? parse(r.body))?["error"]?["code"]?.string
        return "\(r.status.code)" + (code.map { " " + $0 } ?? "")
      }
      let alt: HTTPFields = [.xAPIKey: String(developer[.authorization]!.dropFirst("Bearer ".count))]
      let cases: [(String, HTTPRequest.Method, HTTPFields, String)] = [
        // The developer role may call models but not read metrics.
        ("/metrics", .get, developer, "403 permission_denied"),
        ("/v1/models", .get, developer, "200"),
        // Viewers and operators read metrics, and may not run inference.
        ("/metrics", .get, viewer, "200"),
        ("/metrics", .get, op, "200"),
        ("/v1/chat/completions", .post, viewer, "403 permission_denied"),
        ("/v1/chat/completions", .post, op, "403 permission_denied"),
        ("/v1/models", .get, viewer, "403 permission_denied"),
        // The x-api-key header works as well as Authorization.
        ("/v1/models", .get, alt, "200"),
      ]
      for (uri, method, headers, want) in cases {
        let got = try await status(uri, method, headers)
        #expect(got == want, "\(method) \(uri)")
      }
    }
  }

  @Test func publicMetricsFlagOpensOnlyMetrics() async throws {
    let (server, _, _) = try await makeServer(testConfig { $0.publicMetrics = true })
    try await server.app.test(.router) { client in
      let metrics = try await client.execute(uri: "/metrics", method: .get).status
      #expect(metrics == .ok)
      let models = try await client.execute(uri: "/v1/models", method: .get).status
      #expect(models == .unauthorized)
    }
  }

  /// A key limited to other models neither sees nor reaches this one: it reads as nonexistent.
  @Test func modelAllowlist() async throws {
    let (server, plane, _) = try await makeServer()
    let other = authHeaders(try await plane.key(.developer, models: ["other"]))
    let smolOnly = authHeaders(try await plane.key(.developer, models: ["smol"]))
    try await server.app.test(.router) { client in
      func ids(_ h: HTTPFields) async throws -> [String] {
        let r = try await client.execute(uri: "/v1/models", method: .get, headers: h)
        return try parse(r.body)["data"]?.array?.compactMap { $0["id"]?.string } ?? []
      }
      let none = try await ids(other)
      #expect(none == [])
      let smolIDs = Set(try await ids(smolOnly))
      #expect(smolIDs == ["smol", "default"])
      for (uri, method) in [("/v1/models/smol", HTTPRequest.Method.get), ("/v1/chat/completions", .post)] {
        let r = try await client.execute(uri: uri, method: method, headers: other, body: body(chatBody))
        #expect(r.status == .notFound, "\(uri)")
        #expect(try parse(r.body)["error"]?["code"]?.string == "model_not_found", "\(uri)")
      }
      // The alias of an allowed model is allowed.
      let viaAlias = chatBody.replacingOccurrences(of: #""model":"smol""#, with: #""model":"default""#)
      let aliasStatus = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: smolOnly, body: body(viaAlias)).status
      #expect(aliasStatus == .ok)
    }
    let recorded = try await plane.inferenceRecords().count
    #expect(recorded == 1)
  }

  /// Each inference, streamed or not, leaves one audit record with its real token counts.
  @Test func inferenceIsAuditedWithTokenCounts() async throws {
    let (server, plane, _) = try await makeServer()
    let key = try await plane.key(.developer)
    let streamBody = #"{"model":"smol","messages":[{"role":"user","content":"Count to five."}],"max_tokens":6,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}"#
    try await server.app.test(.router) { client in
      let plain = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authHeaders(key), body: body(chatBody))
      #expect(plain.status == .ok)
      let usage = try parse(plain.body)["usage"]
      let streamed = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authHeaders(key), body: body(streamBody))
      let events = String(buffer: streamed.body)
      #expect(events.hasSuffix("data: [DONE]\n\n"))
      let streamUsage = events.split(separator: "\n").filter { $0.hasPrefix("data: {") }
        .compactMap { try? JSON.parse(Data($0.dropFirst(6).utf8))["usage"] }.first { $0.object != nil }
      let records = try await plane.inferenceRecords()
      #expect(records.count == 2)
      let first = try #require(records.first).draft
      #expect(first.actor == "key:\(key.record.id)" && first.keyID == key.record.id)
      #expect(first.route == "/v1/chat/completions" && first.model == "smol" && first.status == 200)
      #expect(first.promptTokens == usage?["prompt_tokens"]?.int && first.completionTokens == usage?["completion_tokens"]?.int)
      let second = try #require(records.last).draft
      #expect((second.completionTokens ?? 0) >= 1)
      #expect(second.completionTokens == streamUsage?["completion_tokens"]?.int && second.promptTokens == streamUsage?["prompt_tokens"]?.int)
    }
    let verified = try await plane.cp.audit.verify(trusting: nil)
    #expect(verified.firstProblem == nil)
  }

  @Test func rateLimitAnswers429WithRetryAfter() async throws {
    let (server, plane, _) = try await makeServer()
    let key = authHeaders(try await plane.key(.developer, limits: RateLimits(requestsPerMinute: 1)))
    try await server.app.test(.router) { client in
      let first = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: key, body: body(chatBody)).status
      #expect(first == .ok)
      let r = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: key, body: body(chatBody))
      #expect(r.status == .tooManyRequests)
      #expect(Int(r.headers[.retryAfter] ?? "") ?? 0 >= 1)
      #expect(try parse(r.body)["error"]?["code"]?.string == "rate_limit_exceeded")
    }
  }
}

import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Registry
import Testing

@testable import Server
@testable import ServingAPI

/// Deployments through the HTTP API with the real SmolLM2: routing, version headers, rollback,
/// tenant isolation, feedback, metrics, and corrupt versions refused while the old one keeps serving.
@Suite(.serialized) struct DeploymentTests {
  /// A byte-different copy of SmolLM2 that serves the same (one letter of `general.name` changed).
  static func variant(_ letter: UInt8, in dir: URL) throws -> String {
    var data = try Data(contentsOf: URL(fileURLWithPath: TestModels.smol))
    let key = Data("general.name".utf8)
    let at = try #require(data.range(of: key, in: 0..<65536)).upperBound + 4 + 8
    data[at] = letter
    let path = dir.appendingPathComponent("smol-\(letter).gguf").path
    try data.write(to: URL(fileURLWithPath: path))
    return path
  }

  /// A server on a fresh control plane with SmolLM2 in the registry as smol:1 and a byte-different
  /// smol:2, and an operator's and a developer's headers.
  static func twoVersions() async throws -> (plane: TestPlane, server: HearthServer, op: HTTPFields, dev: HTTPFields) {
    let plane = try await TestPlane()
    let server = try await buildApplication(config: testConfig { $0.dataDir = plane.dir.path }, controlPlane: plane.cp, logger: quietLogger())
    _ = try server.state.registry.importModel(path: TestModels.smol, name: "smol", version: "1")
    _ = try server.state.registry.importModel(path: try variant(UInt8(ascii: "T"), in: plane.dir), name: "smol", version: "2")
    return (plane, server, authHeaders(try await plane.key(.operator)), authHeaders(try await plane.key(.developer)))
  }

  func chat(_ client: some TestClientProtocol, _ h: HTTPFields, model: String = "chat") async throws -> (status: Int, version: String?, json: JSON?) {
    let r = try await client.execute(
      uri: "/v1/chat/completions", method: .post, headers: h,
      body: ByteBuffer(string: #"{"model":"\#(model)","messages":[{"role":"user","content":"Hi"}],"max_tokens":2,"temperature":0}"#))
    return (Int(r.status.code), r.headers[.hearthModelVersion], try? JSON.parse(Data(r.body.readableBytesView)))
  }

  func post(_ client: some TestClientProtocol, _ uri: String, _ h: HTTPFields, _ body: String) async throws -> (Int, JSON?) {
    let r = try await client.execute(uri: uri, method: .post, headers: h, body: ByteBuffer(string: body))
    return (Int(r.status.code), try? JSON.parse(Data(r.body.readableBytesView)))
  }

  /// A shadow candidate gets a copy of every kind of request (chat and completions, streamed or not),
  /// and its agreement with the primary is counted. Both versions serve the same weights, so at
  /// temperature 0 every copy agrees; nothing of the copy reaches the client.
  @Test func shadowCopiesChatAndCompletionsStreamedOrNot() async throws {
    let (_, server, op, dev) = try await Self.twoVersions()
    try await server.app.test(.router) { client in
      #expect(try await post(client, "/v1/admin/deployments", op, #"{"name":"chat","model":"smol","version":"1"}"#).0 == 200)
      #expect(try await post(client, "/v1/admin/deployments", op, #"{"name":"chat","version":"2","strategy":"shadow"}"#).0 == 200)
      let requests = [
        ("/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"temperature":0}"#),
        ("/v1/chat/completions", #"{"model":"chat","messages":[{"role":"user","content":"Hi"}],"max_tokens":4,"temperature":0,"stream":true}"#),
        ("/v1/completions", #"{"model":"chat","prompt":"The capital of France is","max_tokens":4,"temperature":0}"#),
        ("/v1/completions", #"{"model":"chat","prompt":"The capital of France is","max_tokens":4,"temperature":0,"stream":true}"#),
      ]
      for (uri, body) in requests {
        let r = try await client.execute(uri: uri, method: .post, headers: dev, body: ByteBuffer(string: body))
        #expect(r.status == .ok && r.headers[.hearthModelVersion] == "smol:1", "\(uri) \(body)")
      }
      // The copies run in the background after each answer; wait for all four to be counted.
      let agreed = #"hearth_deployment_shadow_comparisons_total{deployment="chat",version="smol:2",variant="shadow",agreed="true"} 4"#
      var metrics = ""
      for _ in 0..<100 {
        metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get, headers: op).body)
        if metrics.contains(agreed) { break }
        try await Task.sleep(for: .milliseconds(100))
      }
      #expect(metrics.contains(agreed), "\(metrics.split(separator: "\n").filter { $0.contains("shadow") })")
      #expect(!metrics.contains(#"agreed="false""#))
    }
  }

  @Test func deployRouteRollbackAndRefuseCorruptVersions() async throws {
    let plane = try await TestPlane()
    let server = try await buildApplication(config: testConfig { $0.dataDir = plane.dir.path }, controlPlane: plane.cp, logger: quietLogger())
    let registry = server.state.registry
    _ = try registry.importModel(path: TestModels.smol, name: "smol", version: "1")
    _ = try registry.importModel(path: try Self.variant(UInt8(ascii: "T"), in: plane.dir), name: "smol", version: "2")
    let v3 = try registry.importModel(path: try Self.variant(UInt8(ascii: "U"), in: plane.dir), name: "smol", version: "3")
    let op = authHeaders(try await plane.key(.operator))
    let dev = authHeaders(try await plane.key(.developer))
    let other = try await plane.cp.tenants.create(name: "other", by: .localOperator())
    let otherKey = try await plane.cp.keys.create(NewAPIKey(tenantID: other.id, name: "o", role: .admin), by: .localOperator())

    try await server.app.test(.router) { client in
      // Developers may read deployments but not change them.
      #expect(try await post(client, "/v1/admin/deployments", dev, #"{"name":"chat","model":"smol","version":"1"}"#).0 == 403)
      let (s1, d1) = try await post(client, "/v1/admin/deployments", op, #"{"name":"chat","model":"smol","version":"1"}"#)
      #expect(s1 == 200 && d1?["serving"]?["primary"]?["version"]?.string == "1", "\(String(describing: d1))")

      // The deployment is listed as a model for its tenant only.
      let models = String(buffer: try await client.execute(uri: "/v1/models", method: .get, headers: dev).body)
      #expect(models.contains(#""deployment":"single smol:1""#) && models.contains(#""id":"chat""#))
      let otherModels = String(buffer: try await client.execute(uri: "/v1/models", method: .get, headers: authHeaders(otherKey)).body)
      #expect(!otherModels.contains(#""id":"chat""#))
      #expect(try await client.execute(uri: "/v1/models/chat", method: .get, headers: dev).status == .ok)

      let first = try await chat(client, dev)
      #expect(first.status == 200 && first.version == "smol:1" && first.json?["model"]?.string == "chat")
      // Another tenant has no deployment named chat: it reads as an unknown model.
      #expect(try await chat(client, authHeaders(otherKey)).status == 404)

      // A canary at 50 %: both versions answer (the chance of one side only over 24 requests is 1e-7).
      let (s2, _) = try await post(client, "/v1/admin/deployments", op, #"{"name":"chat","version":"2","strategy":"canary","weight":50}"#)
      #expect(s2 == 200)
      var seen = Set<String>()
      for _ in 0..<24 {
        let r = try await chat(client, dev)
        #expect(r.status == 200)
        seen.insert(r.version ?? "none")
      }
      #expect(seen == ["smol:1", "smol:2"])

      // Rollback is applied at once: every following response comes from version 1.
      #expect(try await post(client, "/v1/admin/deployments/chat/rollback", op, "").0 == 200)
      for _ in 0..<6 { #expect(try await chat(client, dev).version == "smol:1") }

      // Feedback on a response served through the deployment.
      let served = try await chat(client, dev)
      let id = try #require(served.json?["id"]?.string)
      let (fs, fb) = try await post(client, "/v1/feedback", dev, #"{"response_id":"\#(id)","score":1,"comment":"fine"}"#)
      #expect(fs == 201 && fb?["version"]?["version"]?.string == "1", "\(String(describing: fb))")
      #expect(try await post(client, "/v1/feedback", authHeaders(otherKey), #"{"response_id":"\#(id)","score":1}"#).0 == 404)

      // Metrics carry the version.
      let metrics = String(buffer: try await client.execute(uri: "/metrics", method: .get, headers: op).body)
      #expect(metrics.contains(#"hearth_deployment_requests_total{deployment="chat",version="smol:2",variant="candidate",status="200"}"#))

      // A corrupt stored version: the admin API refuses it with the registry's sentence.
      let blob = registry.blobPath(v3.digest)
      chmod(blob, 0o644)
      let handle = try #require(FileHandle(forUpdatingAtPath: blob))
      try handle.seek(toOffset: UInt64(v3.size / 2))
      try handle.write(contentsOf: Data([0x5A, 0xA5, 0x5A, 0xA5]))
      try handle.close()
      let (s3, e3) = try await post(client, "/v1/admin/deployments", op, #"{"name":"chat","version":"3"}"#)
      #expect(s3 == 422)
      #expect(e3?["error"]?["message"]?.string?.hasPrefix("model smol:3 is corrupt: its stored bytes hash to sha256:") == true)

      // Written to the store without the check (as an older CLI or a hand edit might): the server
      // refuses it at load, says why, and keeps serving version 1.
      try await plane.cp.deployments.deploy(
        DeploySpec(tenantID: Tenant.systemID, name: "chat", version: VersionRef(model: "smol", version: "3")), by: .localOperator(), verify: { _ in })
      await server.state.deployments.refresh()
      let show = try await client.execute(uri: "/v1/admin/deployments/chat", method: .get, headers: op)
      let view = try JSON.parse(Data(show.body.readableBytesView))
      #expect(view["deployment"]?["state"]?["primary"]?["version"]?.string == "3")
      #expect(view["serving"]?["primary"]?["version"]?.string == "1")
      #expect(view["serving_error"]?.string?.contains("model smol:3 is corrupt") == true)
      for _ in 0..<4 {
        let r = try await chat(client, dev)
        #expect(r.status == 200 && r.version == "smol:1")
      }
    }
  }

  /// The running server checks the guards itself: a candidate slower than its p99 limit is rolled
  /// back within seconds, audited as the guard's action, and the primary alone serves again.
  @Test func guardRollsBackASlowCandidate() async throws {
    let (plane, server, op, dev) = try await Self.twoVersions()
    try await server.app.test(.router) { client in
      #expect(try await post(client, "/v1/admin/deployments", op, #"{"name":"chat","model":"smol","version":"1"}"#).0 == 200)
      // No real request is faster than a microsecond: the candidate breaks the rule once it has 3 requests.
      let (s, _) = try await post(
        client, "/v1/admin/deployments", op,
        #"{"name":"chat","version":"2","strategy":"canary","weight":100,"guards":{"max_p99_ms":0.001,"min_requests":3}}"#)
      #expect(s == 200)
      for _ in 0..<3 { #expect(try await chat(client, dev).version == "smol:2") }
      var rolledBack = false
      for _ in 0..<50 where !rolledBack {
        try await Task.sleep(nanoseconds: 100_000_000)
        rolledBack = try await plane.cp.store.deployment(named: "chat", tenantID: Tenant.systemID)?.state.candidate == nil
      }
      #expect(rolledBack, "the guard did not roll the candidate back within 5 s")
      let record = try await plane.cp.audit.query(AuditQuery(scope: .all, kind: .admin, limit: 1000), by: .localOperator()).records.last?.draft
      #expect(record?.action == "deployment.auto_rollback" && record?.actor == "system:guard")
      #expect(record?.detail?.contains("p99 latency") == true)
      // The server switched back to the primary at once (the guard's own refresh).
      for _ in 0..<3 { #expect(try await chat(client, dev).version == "smol:1") }
    }
  }
}

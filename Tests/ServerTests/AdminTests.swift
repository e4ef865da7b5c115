import ControlPlane
import Foundation
import Hummingbird
import HummingbirdTesting
import Testing

@testable import Server
@testable import ServingAPI

/// Two tenants, each with an admin, an auditor and a developer key, beside the system admin.
struct TwoTenants {
  let server: HearthServer
  let plane: TestPlane
  let system: HTTPFields
  let a: (id: String, admin: CreatedAPIKey, auditor: CreatedAPIKey, developer: CreatedAPIKey)
  let b: (id: String, admin: CreatedAPIKey, auditor: CreatedAPIKey, developer: CreatedAPIKey)

  static func make() async throws -> TwoTenants {
    let (server, plane, system) = try await makeServer()
    let op = Principal.localOperator()
    func tenant(_ name: String) async throws -> (String, CreatedAPIKey, CreatedAPIKey, CreatedAPIKey) {
      let t = try await plane.cp.tenants.create(name: name, by: op)
      func key(_ role: Role) async throws -> CreatedAPIKey {
        try await plane.cp.keys.create(NewAPIKey(tenantID: t.id, name: "\(name)-\(role.rawValue)", role: role), by: op)
      }
      return (t.id, try await key(.admin), try await key(.auditor), try await key(.developer))
    }
    let a = try await tenant("tenant-a")
    let b = try await tenant("tenant-b")
    return TwoTenants(server: server, plane: plane, system: system, a: a, b: b)
  }
}

@Suite(.serialized) struct AdminTests {
  /// The admin API over HTTP: create, list, rotate and revoke a key; the new key works at once and
  /// stops at once.
  @Test func keyLifecycleOverHTTP() async throws {
    let t = try await TwoTenants.make()
    try await t.server.app.test(.router) { client in
      let created = try await client.execute(
        uri: "/v1/admin/keys", method: .post, headers: authHeaders(t.a.admin),
        body: body(#"{"name":"ci-bot","role":"developer","models":["smol"],"expires_in":3600,"limits":{"requests_per_minute":100}}"#))
      #expect(created.status == .created)
      let j = try parse(created.body)
      let secret = try #require(j["secret"]?.string)
      let id = try #require(j["key"]?["id"]?.string)
      #expect(secret.hasPrefix("hk_\(id)_"))
      #expect(j["key"]?["tenant"]?.string == t.a.id && j["key"]?["limits"]?["requests_per_minute"]?.int == 100)
      #expect(!String(buffer: created.body).contains("secret_mac"))
      let fresh: HTTPFields = [.authorization: "Bearer \(secret)"]
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: fresh).status == .ok)

      let rotated = try parse(try await client.execute(uri: "/v1/admin/keys/\(id)/rotate", method: .post, headers: authHeaders(t.a.admin)).body)
      let newSecret = try #require(rotated["secret"]?.string)
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: fresh).status == .unauthorized)
      let rotatedHeaders: HTTPFields = [.authorization: "Bearer \(newSecret)"]
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: rotatedHeaders).status == .ok)

      let revoked = try await client.execute(uri: "/v1/admin/keys/\(id)/revoke", method: .post, headers: authHeaders(t.a.admin))
      #expect(try parse(revoked.body)["revoked"]?.bool == true)
      #expect(try await client.execute(uri: "/v1/models", method: .get, headers: rotatedHeaders).status == .unauthorized)

      let who = try parse(try await client.execute(uri: "/v1/admin/whoami", method: .get, headers: authHeaders(t.a.auditor)).body)
      #expect(who["role"]?.string == "auditor" && who["tenant"]?.string == t.a.id)
      #expect(who["permissions"]?.array?.contains(.string("audit.read")) == true)
    }
    // Each change left an admin record with before and after.
    let admin = try await t.plane.cp.audit.query(AuditQuery(scope: .tenant(t.a.id), kind: .admin, limit: 100), by: .localOperator()).records
    #expect(Set(admin.map(\.draft.action)).isSuperset(of: ["key.create", "key.rotate", "key.revoke"]))
  }

  /// A tenant's admin and auditor see only their tenant: another tenant's keys, users, usage and
  /// audit records read as not found or are simply absent; creating in another tenant is refused.
  @Test func tenantsCannotCrossTheBoundary() async throws {
    let t = try await TwoTenants.make()
    try await t.server.app.test(.router) { client in
      // Some traffic in both tenants, so there is usage and audit to leak.
      for dev in [t.a.developer, t.b.developer] {
        let r = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: authHeaders(dev), body: body(chatBody))
        #expect(r.status == .ok)
      }
      func get(_ uri: String, _ key: CreatedAPIKey) async throws -> (HTTPResponse.Status, JSON) {
        let r = try await client.execute(uri: uri, method: .get, headers: authHeaders(key))
        return (r.status, try parse(r.body))
      }
      let keys = try await get("/v1/admin/keys", t.a.admin).1["data"]?.array ?? []
      #expect(keys.count == 3 && keys.allSatisfy { $0["tenant"]?.string == t.a.id })
      #expect(try await get("/v1/admin/keys/\(t.b.admin.record.id)", t.a.admin).0 == .notFound)
      #expect(try await get("/v1/admin/keys?tenant=\(t.b.id)", t.a.admin).0 == .notFound)
      #expect(try await get("/v1/admin/tenants/\(t.b.id)", t.a.admin).0 == .notFound)
      let tenants = try await get("/v1/admin/tenants", t.a.admin).1["data"]?.array?.compactMap { $0["id"]?.string }
      #expect(tenants == [t.a.id])

      let usage = try await get("/v1/admin/usage?group=total", t.a.auditor).1["data"]?.array ?? []
      #expect(usage.count == 1 && usage[0]["tenant_id"]?.string == t.a.id && usage[0]["key_id"]?.string == t.a.developer.record.id)
      #expect(try await get("/v1/admin/usage?tenant=\(t.b.id)", t.a.auditor).0 == .notFound)

      let audit = try await get("/v1/admin/audit?kind=inference", t.a.auditor).1["data"]?.array ?? []
      #expect(audit.count == 1 && audit[0]["tenant"]?.string == t.a.id && audit[0]["key_id"]?.string == t.a.developer.record.id)
      #expect(audit[0]["prompt_hmac"]?.string?.count == 64)
      #expect(try await get("/v1/admin/audit?tenant=\(t.b.id)", t.a.auditor).0 == .notFound)
      // Verifying the whole chain spans every tenant: system auditors and admins only.
      #expect(try await get("/v1/admin/audit/verify", t.a.auditor).0 == .forbidden)

      // Writing into tenant B from tenant A's admin.
      let cross = try await client.execute(
        uri: "/v1/admin/keys", method: .post, headers: authHeaders(t.a.admin), body: body(#"{"name":"sneaky","tenant":"\#(t.b.id)"}"#))
      #expect(cross.status == .notFound)
      for path in ["/v1/admin/keys/\(t.b.developer.record.id)/revoke", "/v1/admin/keys/\(t.b.developer.record.id)/rotate"] {
        #expect(try await client.execute(uri: path, method: .post, headers: authHeaders(t.a.admin)).status == .notFound, "\(path)")
      }
      let newTenant = try await client.execute(uri: "/v1/admin/tenants", method: .post, headers: authHeaders(t.a.admin), body: body(#"{"name":"mine"}"#))
      #expect(newTenant.status == .forbidden || newTenant.status == .notFound)
      // B's developer key still works: nothing was changed.
      #expect(try await get("/v1/models", t.b.developer).0 == .ok)

      // The system admin sees both.
      let all = try await client.execute(uri: "/v1/admin/keys", method: .get, headers: t.system)
      let tenantsSeen = Set(try parse(all.body)["data"]?.array?.compactMap { $0["tenant"]?.string } ?? [])
      #expect(tenantsSeen.isSuperset(of: [t.a.id, t.b.id]))
      let verified = try parse(try await client.execute(uri: "/v1/admin/audit/verify", method: .get, headers: t.system).body)
      #expect(verified["ok"]?.bool == true && (verified["records"]?.int ?? 0) >= 10)
    }
  }

  /// Roles cannot be escalated: an auditor cannot write, and nobody mints a role stronger than theirs.
  @Test func noEscalation() async throws {
    let t = try await TwoTenants.make()
    let op = try await t.plane.key(.operator)
    try await t.server.app.test(.router) { client in
      let asAuditor = try await client.execute(uri: "/v1/admin/keys", method: .post, headers: authHeaders(t.a.auditor), body: body(#"{"name":"x"}"#))
      #expect(asAuditor.status == .forbidden)
      #expect(try parse(asAuditor.body)["error"]?["code"]?.string == "permission_denied")
      let asOperator = try await client.execute(uri: "/v1/admin/audit", method: .get, headers: authHeaders(op))
      #expect(asOperator.status == .forbidden)
      let asDeveloper = try await client.execute(uri: "/v1/admin/keys", method: .get, headers: authHeaders(t.a.developer))
      #expect(asDeveloper.status == .forbidden)
    }
  }

  /// Bad input gets a 400 that names the field, and hostile strings are data, never code or paths.
  @Test func badInputIsRefusedAndHostileStringsAreData() async throws {
    let t = try await TwoTenants.make()
    try await t.server.app.test(.router) { client in
      func post(_ uri: String, _ json: String) async throws -> (HTTPResponse.Status, JSON) {
        let r = try await client.execute(uri: uri, method: .post, headers: t.system, body: body(json))
        return (r.status, try parse(r.body))
      }
      let cases: [(String, String, String)] = [
        ("/v1/admin/keys", #"{"name":"k","role":"root"}"#, "role"),
        ("/v1/admin/keys", #"{"role":"developer"}"#, "name"),
        ("/v1/admin/keys", #"{"name":"k","expires_at":"tomorrow"}"#, "expires_at"),
        ("/v1/admin/keys", #"{"name":"k","limits":{"requests_per_minute":0}}"#, "limits.requests_per_minute"),
        ("/v1/admin/keys", #"{"name":"k","models":[1]}"#, "models"),
        ("/v1/admin/users", #"{"name":"u","role":"superuser"}"#, "role"),
      ]
      for (uri, json, param) in cases {
        let (status, j) = try await post(uri, json)
        #expect(status == .badRequest, "\(json)")
        #expect(j["error"]?["param"]?.string == param, "\(json): \(j.text)")
      }
      let (badJSON, _) = try await post("/v1/admin/keys", "{not json")
      #expect(badJSON == .badRequest)
      let badQuery = try await client.execute(uri: "/v1/admin/audit?limit=0", method: .get, headers: t.system)
      let badQueryBody = try parse(badQuery.body)
      #expect(badQuery.status == .badRequest && badQueryBody["error"]?["param"]?.string == "limit")

      // SQL-looking names are stored and returned verbatim; the keys table is still there.
      let sql = "x'); DROP TABLE api_keys; --"
      let (created, k) = try await post("/v1/admin/keys", #"{"name":"\#(sql)"}"#)
      #expect(created == .created && k["key"]?["name"]?.string == sql)
      let list = try await client.execute(uri: "/v1/admin/keys", method: .get, headers: t.system)
      #expect(try parse(list.body)["data"]?.array?.contains { $0["name"]?.string == sql } == true)
      // Path-traversal and odd ids are just unknown ids.
      for id in ["..%2F..%2Fetc%2Fpasswd", "%00", "hk_x'%20OR%20'1'='1"] {
        let r = try await client.execute(uri: "/v1/admin/keys/\(id)", method: .get, headers: t.system)
        #expect(r.status == .notFound, "\(id)")
      }
      // Control characters in a name are refused.
      let (ctl, cj) = try await post("/v1/admin/tenants", #"{"name":"evil\u0000name"}"#)
      #expect(ctl == .badRequest, "\(cj.text)")
    }
  }
}

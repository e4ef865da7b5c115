import Foundation
import Testing

@testable import ControlPlane

@Suite struct RBACTests {
  @Test func theMatrixGivesEachRoleItsJob() {
    #expect(Role.admin.permissions == Set(Permission.allCases))
    #expect(Role.viewer.permissions == [.metricsRead, .statusRead])
    #expect(Role.developer.can(.inference) && !Role.developer.can(.keysWrite) && !Role.developer.can(.auditRead))
    #expect(Role.operator.can(.modelsWrite) && Role.operator.can(.deploymentsWrite) && !Role.operator.can(.inference))
    #expect(!Role.operator.can(.keysWrite) && !Role.operator.can(.auditRead))
    #expect(Role.auditor.can(.auditRead) && Role.auditor.can(.usageRead))
    for p in Permission.allCases where p.rawValue.hasSuffix(".write") { #expect(!Role.auditor.can(p)) }
    #expect(!Role.auditor.can(.inference))
    for r in Role.allCases where r != .admin { #expect(!r.can(.keysWrite) && !r.can(.tenantsWrite) && !r.can(.settingsWrite)) }
  }

  @Test func roleNamesParse() {
    #expect(Role(name: "Operator") == .operator)
    #expect(Role(name: "root") == nil)
  }

  /// docs/security.md carries the matrix as a table; it must say exactly what the code does.
  @Test func theDocumentedMatrixMatchesTheCode() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let doc = try String(contentsOf: root.appendingPathComponent("docs/security.md"), encoding: .utf8)
    let header = "| permission | " + Role.allCases.map(\.rawValue).joined(separator: " | ") + " |"
    #expect(doc.contains(header))
    for p in Permission.allCases {
      let row = "| `\(p.rawValue)` | " + Role.allCases.map { $0.can(p) ? "yes" : "-" }.joined(separator: " | ") + " |"
      #expect(doc.contains(row), "docs/security.md lacks or misstates: \(row)")
    }
  }

  @Test func scopes() {
    let sys = Principal(tenantID: Tenant.systemID, role: .admin, actor: "a")
    let tenantAdmin = Principal(tenantID: "tn_a", role: .admin, actor: "b")
    let sysAuditor = Principal(tenantID: Tenant.systemID, role: .auditor, actor: "c")
    #expect(sys.scope == .all && sys.isSystemAdmin)
    #expect(tenantAdmin.scope == .tenant("tn_a") && !tenantAdmin.isSystemAdmin)
    // Only admins of the system tenant are global; other roles there see the system tenant only.
    #expect(sysAuditor.scope == .tenant(Tenant.systemID))
    #expect(throws: ControlPlaneError.notFound("tenant tn_b")) { try tenantAdmin.require(.keysRead, inTenant: "tn_b") }
    #expect(throws: ControlPlaneError.forbidden(.keysWrite)) { try sysAuditor.require(.keysWrite, inTenant: Tenant.systemID) }
  }
}

/// A tenant tries to cross into another's keys, users, usage and audit, through the services and
/// straight through the repositories.
@Suite struct TenantIsolationTests {
  struct Two {
    let f: Fixture
    let a: Tenant, b: Tenant
    let adminA: Principal, auditorA: Principal
    let keyB: CreatedAPIKey
    let userB: User

    init() async throws {
      f = try await Fixture()
      a = try await f.tenant("a")
      b = try await f.tenant("b")
      adminA = try await f.cp.keys.verify(try await f.key(a.id, role: .admin).plaintext)
      auditorA = try await f.cp.keys.verify(try await f.key(a.id, role: .auditor).plaintext)
      let bob = try await f.cp.users.create(tenantID: b.id, name: "bob", role: .developer, by: Fixture.admin)
      userB = bob
      let kb = try await f.key(b.id) { $0.userID = bob.id }
      keyB = kb
      let pb = try await f.cp.keys.verify(kb.plaintext)
      try await f.cp.usage.record(pb, model: "m", promptTokens: 5, completionTokens: 7)
      try await f.cp.audit.recordInference(
        InferenceCall(time: f.clock.now(), route: "/v1/chat/completions", model: "m", status: 200, promptTokens: 5, completionTokens: 7, latencyMicros: 1, prompt: Data("b's secret prompt".utf8)),
        by: pb)
    }
  }

  @Test func keys() async throws {
    let t = try await Two()
    let mine = try await t.f.cp.keys.list(by: t.adminA)
    #expect(!mine.isEmpty && mine.allSatisfy { $0.tenantID == t.a.id })
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.keys.list(tenantID: t.b.id, by: t.adminA) }
    await #expect(throws: ControlPlaneError.notFound("API key \(t.keyB.record.id)")) { try await t.f.cp.keys.get(id: t.keyB.record.id, by: t.adminA) }
    await #expect(throws: ControlPlaneError.notFound("API key \(t.keyB.record.id)")) { try await t.f.cp.keys.revoke(id: t.keyB.record.id, by: t.adminA) }
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.keys.rotate(id: t.keyB.record.id, by: t.adminA) }
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.keys.update(id: t.keyB.record.id, by: t.adminA) { $0.models = [] } }
    #expect(try await t.f.cp.keys.verify(t.keyB.plaintext).tenantID == t.b.id)  // untouched
    // The system admin sees both.
    let all = try await t.f.cp.keys.list(by: Fixture.admin)
    #expect(Set(all.map(\.tenantID)).isSuperset(of: [t.a.id, t.b.id]))
  }

  @Test func repositoriesFilterByScope() async throws {
    let t = try await Two()
    let s = t.f.store
    #expect(try await s.apiKey(id: t.keyB.record.id, scope: .tenant(t.a.id)) == nil)
    #expect(try await s.apiKey(id: t.keyB.record.id, scope: .tenant(t.b.id)) != nil)
    #expect(try await s.apiKeys(scope: .tenant(t.a.id), userID: nil).allSatisfy { $0.tenantID == t.a.id })
    #expect(try await s.user(id: t.userB.id, scope: .tenant(t.a.id)) == nil)
    #expect(try await s.users(scope: .tenant(t.a.id)).isEmpty)
    #expect(try await s.usage(UsageQuery(scope: .tenant(t.a.id), grouping: .total)).isEmpty)
    #expect(try await s.auditRecords(AuditQuery(scope: .tenant(t.a.id), kind: .inference)).isEmpty)
    #expect(try await s.tenants(scope: .tenant(t.a.id)).map(\.id) == [t.a.id])
    // An update that names B's key under tenant A matches no row: a key cannot be moved or changed across tenants.
    var moved = try #require(try await s.apiKey(id: t.keyB.record.id, scope: .all))
    moved.tenantID = t.a.id
    moved.revoked = true
    await #expect(throws: ControlPlaneError.notFound("API key \(moved.id)")) { try await s.commit([.updateKey(moved)], audit: []) }
    await #expect(throws: ControlPlaneError.self) { try await s.commit([.deleteUser(id: t.userB.id, tenantID: t.a.id)], audit: []) }
  }

  @Test func usersUsageAndAudit() async throws {
    let t = try await Two()
    #expect(try await t.f.cp.users.list(by: t.adminA).isEmpty)
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.users.list(tenantID: t.b.id, by: t.adminA) }
    await #expect(throws: ControlPlaneError.notFound("user \(t.userB.id)")) { try await t.f.cp.users.remove(t.userB.id, by: t.adminA) }
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.users.create(tenantID: t.b.id, name: "mallory", role: .admin, by: t.adminA) }

    #expect(try await t.f.cp.usage.usage(UsageQuery(scope: .all, grouping: .total), by: t.auditorA).isEmpty)
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.usage.usage(UsageQuery(scope: .tenant(t.b.id)), by: t.auditorA) }
    #expect(try await t.f.cp.usage.usage(UsageQuery(scope: .tenant(t.b.id), grouping: .total), by: Fixture.admin).first?.totalTokens == 12)

    let seen = try await t.f.cp.audit.query(AuditQuery(scope: .all), by: t.auditorA)
    #expect(seen.records.allSatisfy { $0.draft.tenantID == t.a.id })
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.audit.query(AuditQuery(scope: .tenant(t.b.id)), by: t.auditorA) }
    let bRecords = try await t.f.cp.audit.query(AuditQuery(scope: .tenant(t.b.id), kind: .inference), by: Fixture.admin)
    #expect(bRecords.records.count == 1)
    // A developer of A cannot read the trail at all.
    let devA = Principal(tenantID: t.a.id, role: .developer, actor: "d")
    await #expect(throws: ControlPlaneError.forbidden(.auditRead)) { try await t.f.cp.audit.query(AuditQuery(scope: .all), by: devA) }
  }

  @Test func tenantsAreManagedBySystemAdminsOnly() async throws {
    let t = try await Two()
    #expect(try await t.f.cp.tenants.list(by: t.adminA).map(\.id) == [t.a.id])
    await #expect(throws: ControlPlaneError.notFound("tenant b")) { try await t.f.cp.tenants.get("b", by: t.adminA) }
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.tenants.create(name: "c", by: t.adminA) }
    await #expect(throws: ControlPlaneError.self) { try await t.f.cp.tenants.update(t.a.id, by: t.adminA) { $0.policy.budget = nil } }
    #expect(try await t.f.cp.tenants.list(by: Fixture.admin).count == 3)
  }
}

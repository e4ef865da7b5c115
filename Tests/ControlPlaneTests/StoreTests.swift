import Foundation
import Testing

@testable import ControlPlane

@Suite struct StoreTests {
  @Test func walModeMigrationsAndPermissions() async throws {
    let f = try await Fixture()
    #expect(try await f.store.journalMode() == "wal")
    #expect(
      try await f.store.appliedMigrations() == [
        "v1: identities, audit, usage, settings, data keys", "v2: deployments, deployment requests, feedback",
      ])
    let mode = try FileManager.default.attributesOfItem(atPath: f.store.path)[.posixPermissions] as? NSNumber
    #expect(mode?.intValue == 0o600)
    // Opening again migrates nothing and keeps the data.
    let again = try SQLiteControlStore(directory: f.dir.path)
    #expect(try await again.tenant(id: Tenant.systemID)?.name == Tenant.systemID)
  }

  @Test func foreignKeysAreEnforced() async throws {
    let f = try await Fixture()
    let u = User(id: "us_x", tenantID: "tn_missing", name: "x", role: .viewer, source: .local, createdAt: Date())
    await #expect(throws: ControlPlaneError.self) { try await f.store.commit([.insertUser(u)], audit: []) }
    // A failed commit writes no audit record either.
    let before = try await f.store.auditHead()
    let draft = AuditDraft(time: Date(), kind: .admin, tenantID: "t", actor: "a", action: "user.create")
    await #expect(throws: ControlPlaneError.self) { try await f.store.commit([.insertUser(u)], audit: [draft]) }
    #expect(try await f.store.auditHead() == before)
  }

  static let hostile = [
    "Robert'); DROP TABLE tenants;--",
    "' OR '1'='1",
    "\" OR \"\"=\"",
    "x'; DELETE FROM api_keys WHERE '1'='1",
    "1; UPDATE users SET role='admin'",
    "%_\\'\"`$(rm -rf /)",
    "名前 🔑 ñ",
  ]

  @Test func sqlLookingNamesAreJustData() async throws {
    let f = try await Fixture()
    var tenants = [Tenant]()
    for (i, name) in Self.hostile.enumerated() {
      let t = try await f.tenant(name)
      tenants.append(t)
      let u = try await f.cp.users.create(tenantID: t.id, name: name, role: .developer, by: Fixture.admin)
      let k = try await f.key(t.id, name: name) {
        $0.description = name
        $0.models = [name]
        $0.userID = u.id
      }
      #expect(try await f.cp.tenants.get(name, by: Fixture.admin).id == t.id)
      #expect(try await f.cp.users.get(name, tenantID: t.id, by: Fixture.admin).id == u.id)
      let p = try await f.cp.keys.verify(k.plaintext)
      #expect(p.models == [name])
      try await f.cp.usage.record(p, model: name, promptTokens: i, completionTokens: 1)
      #expect(try await f.cp.usage.usage(UsageQuery(scope: .tenant(t.id), model: name, grouping: .total), by: Fixture.admin).first?.model == name)
      #expect(try await f.cp.audit.query(AuditQuery(scope: .tenant(t.id), model: nil), by: Fixture.admin).records.count >= 3)
    }
    // Every table is still there with every row.
    #expect(try await f.cp.tenants.list(by: Fixture.admin).count == Self.hostile.count + 1)
    #expect(try await f.cp.users.list(by: Fixture.admin).map(\.name).sorted() == Self.hostile.sorted())
    #expect(try await f.cp.keys.list(by: Fixture.admin).count == Self.hostile.count)
    #expect(try await f.cp.keys.list(by: Fixture.admin).allSatisfy { $0.role == .developer })
    #expect(try await f.cp.audit.verify().ok)
    // A hostile string used as a lookup key finds nothing rather than everything.
    await #expect(throws: ControlPlaneError.self) { try await f.cp.tenants.get("' OR 1=1 --", by: Fixture.admin) }
    #expect(try await f.store.apiKey(id: "' OR '1'='1", scope: .all) == nil)
  }

  @Test func duplicateNamesConflict() async throws {
    let f = try await Fixture()
    let t = try await f.tenant("acme")
    await #expect(throws: ControlPlaneError.self) { try await f.tenant("acme") }
    _ = try await f.cp.users.create(tenantID: t.id, name: "ada", role: .viewer, by: Fixture.admin)
    await #expect(throws: ControlPlaneError.self) { try await f.cp.users.create(tenantID: t.id, name: "ada", role: .viewer, by: Fixture.admin) }
    // The same user name in another tenant is fine.
    _ = try await f.cp.users.create(tenantID: Tenant.systemID, name: "ada", role: .viewer, by: Fixture.admin)
  }

  @Test func removingAUserRemovesItsKeys() async throws {
    let f = try await Fixture()
    let u = try await f.cp.users.create(tenantID: Tenant.systemID, name: "ada", role: .developer, by: Fixture.admin)
    let k = try await f.key(Tenant.systemID) { $0.userID = u.id }
    let other = try await f.key(Tenant.systemID)
    try await f.cp.users.remove(u.id, by: Fixture.admin)
    await #expect(throws: KeyVerifyError.unknown) { try await f.cp.keys.verify(k.plaintext) }
    _ = try await f.cp.keys.verify(other.plaintext)
    let rec = try #require(try await f.cp.audit.query(AuditQuery(scope: .all, kind: .admin), by: Fixture.admin).records.last)
    #expect(rec.draft.action == "user.remove" && rec.draft.before?.contains(k.record.id) == true)
  }

  @Test func tenantPolicyUpdatesRoundTrip() async throws {
    let f = try await Fixture()
    let t = try await f.tenant("acme")
    let u = try await f.cp.tenants.update("acme", by: Fixture.admin) {
      $0.policy.tenantLimits = RateLimits(requestsPerMinute: 100)
      $0.policy.budget = TokenBudget(tokens: 1_000_000, period: .month)
    }
    #expect(u.id == t.id)
    #expect(try await f.cp.tenants.get(t.id, by: Fixture.admin).policy == u.policy)
    // Keeping prompts needs a master key.
    await #expect(throws: ControlPlaneError.self) { try await f.cp.tenants.update(t.id, by: Fixture.admin) { $0.policy.storePrompts = true } }
  }
}

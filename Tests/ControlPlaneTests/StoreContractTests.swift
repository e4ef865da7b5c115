import Foundation
import Testing

@testable import ControlPlane

/// What every `ControlStore` must do, run against each backend through the services that use it.
@Suite struct StoreContractTests {
  @Test(arguments: Backend.allCases)
  func identitiesConstraintsAndScopes(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let s = f.cp.store
    let a = try await f.tenant("a")
    let b = try await f.tenant("b")
    await #expect(throws: ControlPlaneError.self) { try await f.tenant("a") }
    let u = try await f.cp.users.create(tenantID: a.id, name: "ada", role: .developer, by: Fixture.admin)
    await #expect(throws: ControlPlaneError.self) { try await f.cp.users.create(tenantID: a.id, name: "ada", role: .viewer, by: Fixture.admin) }
    _ = try await f.cp.users.create(tenantID: b.id, name: "ada", role: .viewer, by: Fixture.admin)
    let ghost = User(id: "us_ghost", tenantID: "tn_nope", name: "g", role: .viewer, source: .local, createdAt: Date())
    await #expect(throws: ControlPlaneError.self) { try await s.commit([.insertUser(ghost)], audit: []) }

    let ka = try await f.key(a.id) { $0.userID = u.id }
    let kb = try await f.key(b.id)
    #expect(try await s.apiKeys(scope: .tenant(a.id), userID: nil).map(\.id) == [ka.record.id])
    #expect(try await s.apiKeys(scope: .all, userID: u.id).map(\.id) == [ka.record.id])
    #expect(try await s.apiKey(id: kb.record.id, scope: .tenant(a.id)) == nil)
    #expect(try await s.users(scope: .tenant(b.id)).count == 1)
    var moved = try #require(try await s.apiKey(id: kb.record.id, scope: .all))
    moved.tenantID = a.id
    await #expect(throws: ControlPlaneError.notFound("API key \(kb.record.id)")) { try await s.commit([.updateKey(moved)], audit: []) }

    // Round trip of every key field.
    let stored = try #require(try await s.apiKey(id: ka.record.id, scope: .all))
    #expect(stored == ka.record)
    let (ck, ct) = try #require(try await s.credential(keyID: ka.record.id))
    #expect(ck == ka.record && ct == a)

    // Removing the user takes its key along; the other tenant's same-named user stays.
    try await f.cp.users.remove(u.id, by: Fixture.admin)
    #expect(try await s.apiKey(id: ka.record.id, scope: .all) == nil)
    #expect(try await s.users(scope: .all).count == 1)
    #expect(try await f.cp.audit.verify().ok)
  }

  @Test(arguments: Backend.allCases)
  func failedCommitsChangeNothing(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let head = try await f.cp.store.auditHead()
    let t = Tenant(id: "tn_x", name: "x", policy: TenantPolicy(), createdAt: Date())
    let dup = Tenant(id: "tn_y", name: "x", policy: TenantPolicy(), createdAt: Date())
    let draft = AuditDraft(time: Date(), kind: .admin, tenantID: "tn_x", actor: "t", action: "tenant.create")
    await #expect(throws: ControlPlaneError.self) { try await f.cp.store.commit([.insertTenant(t), .insertTenant(dup)], audit: [draft]) }
    #expect(try await f.cp.store.tenant(id: "tn_x") == nil)
    #expect(try await f.cp.store.auditHead() == head)
  }

  @Test(arguments: Backend.allCases)
  func auditChainUnderConcurrency(_ backend: Backend) async throws {
    let f = try await Fixture(checkpointEvery: 25, backend: backend)
    let p = Principal(tenantID: Tenant.systemID, keyID: "abcdefABCDEF", role: .developer, actor: "k")
    try await withThrowingTaskGroup(of: Void.self) { g in
      for w in 0..<4 {
        g.addTask {
          for i in 0..<50 {
            let call = InferenceCall(time: Date(), route: "/r", model: "m\(w)", status: 200, promptTokens: i, completionTokens: 1, latencyMicros: 1, prompt: Data([UInt8(i)]))
            try await f.cp.audit.recordInference(call, by: p)
          }
        }
      }
      try await g.waitForAll()
    }
    let v = try await f.cp.audit.verify()
    #expect(v.ok && v.records == 201)
    // A checkpoint every 25 records, give or take the appends that raced the one that triggered it.
    let cps = try await f.cp.store.auditCheckpoints(afterSeq: 0, limit: 100)
    #expect(cps.count >= 6)
    for (a, b) in zip(cps, cps.dropFirst()) { #expect((25...33).contains(b.recordSeq - a.recordSeq)) }
    #expect(try await f.cp.audit.query(AuditQuery(scope: .all, model: "m2", limit: 1000), by: Fixture.admin).records.count == 50)
  }

  @Test(arguments: Backend.allCases)
  func usageAndBudgets(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    f.clock.set(ISO8601DateFormatter().date(from: "2027-05-31T23:00:00Z")!)
    let k = try await f.key(Tenant.systemID) { $0.budget = TokenBudget(tokens: 10, period: .month) }
    let p = try await f.cp.keys.verify(k.plaintext)
    try await f.cp.usage.record(p, model: "a", promptTokens: 4, completionTokens: 6)
    await #expect(throws: QuotaError.self) { try await f.cp.usage.checkBudget(p) }
    f.clock.advance(by: 3600)
    try await f.cp.usage.checkBudget(p)
    try await f.cp.usage.record(p, model: "a", promptTokens: 1, completionTokens: 1)
    let months = try await f.cp.usage.usage(UsageQuery(scope: .all, grouping: .month), by: Fixture.admin)
    #expect(months.map(\.period) == ["2027-05", "2027-06"] && months.map(\.totalTokens) == [10, 2])
  }

  @Test(arguments: Backend.allCases)
  func dataKeysRotate(_ backend: Backend) async throws {
    let f = try await Fixture(encrypted: true, backend: backend)
    let blob = try await f.cp.cipher!.seal(Data("x".utf8), context: "c")
    let next = LocalMasterKey.generate()
    #expect(try await f.cp.cipher!.rotateMaster(to: next) == 1)
    let fresh = EnvelopeCipher(provider: next, store: f.cp.store)
    try await fresh.checkMasterKey()
    #expect(try await fresh.open(blob, context: "c") == Data("x".utf8))
    let stale = try await f.cp.store.dataKeys()
    #expect(try await f.cp.store.replaceDataKeys(stale, ifUnchanged: []) == false)
  }
}

import Foundation
import Testing

@testable import ControlPlane

/// Deployments through the service, on both stores: RBAC, tenant isolation, audit, rollback, guards, feedback.
@Suite struct DeploymentServiceTests {
  static let v1 = VersionRef(model: "smol", version: "1")
  static let v2 = VersionRef(model: "smol", version: "2")
  static let anyVersion: @Sendable (VersionRef) async throws -> Void = { _ in }

  func op(_ tenantID: String, _ role: Role = .operator) -> Principal { Principal(tenantID: tenantID, role: role, actor: "test:\(role.rawValue)") }

  @Test(arguments: Backend.allCases)
  func deployPromoteRollbackWithAudit(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let acme = try await f.tenant("acme")
    let s = f.cp.deployments
    let o = op(acme.id)
    // A new deployment starts with a single version; a candidate needs something to be compared with.
    await #expect(throws: ControlPlaneError.self) {
      try await s.deploy(DeploySpec(tenantID: acme.id, name: "chat", version: Self.v2, strategy: .canary, weight: 10), by: o, verify: Self.anyVersion)
    }
    let first = try await s.deploy(DeploySpec(tenantID: acme.id, name: "chat", version: Self.v1), by: o, verify: Self.anyVersion)
    #expect(first.state == DeploymentState(primary: Self.v1) && first.previous == nil && first.revision == 1)
    await #expect(throws: ControlPlaneError.invalid("strategy canary needs a weight (percent of traffic for the new version)")) {
      try await s.deploy(DeploySpec(tenantID: acme.id, name: "chat", version: Self.v2, strategy: .canary), by: o, verify: Self.anyVersion)
    }
    let canary = try await s.deploy(
      DeploySpec(tenantID: acme.id, name: "chat", version: Self.v2, strategy: .canary, weight: 10), by: o, verify: Self.anyVersion)
    #expect(canary.state == DeploymentState(strategy: .canary, primary: Self.v1, candidate: Self.v2, weight: 10))
    #expect(canary.previous == first.state && canary.revision == 2)
    let promoted = try await s.promote("chat", tenantID: acme.id, by: o)
    #expect(promoted.state == DeploymentState(primary: Self.v2) && promoted.previous == canary.state)
    let back = try await s.rollback("chat", tenantID: acme.id, by: o)
    #expect(back.state == canary.state && back.previous == promoted.state)
    #expect(try await f.cp.store.deployment(named: "chat", tenantID: acme.id) == back)
    await #expect(throws: ControlPlaneError.self) { try await s.promote("nope", tenantID: acme.id, by: o) }

    // Every change has its audit record, with the deployment before and after.
    let records = try await f.cp.store.auditRecords(AuditQuery(scope: .tenant(acme.id), kind: .admin))
      .filter { $0.draft.target == "deployment:chat" }
    #expect(records.map(\.draft.action) == ["deployment.create", "deployment.deploy", "deployment.promote", "deployment.rollback"])
    let last = try #require(records.last?.draft)
    #expect(last.actor == "test:operator" && last.before == ControlJSON.encode(promoted) && last.after == ControlJSON.encode(back))
    #expect(records.first?.draft.before == nil)
    // The change counter the servers poll moved once per change.
    #expect(try await f.cp.store.deploymentGeneration() == 4)
  }

  @Test(arguments: Backend.allCases)
  func rbacAndTenantCrossingAreRefused(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let a = try await f.tenant("a")
    let b = try await f.tenant("b")
    let s = f.cp.deployments
    try await s.deploy(DeploySpec(tenantID: a.id, name: "chat", version: Self.v1), by: op(a.id), verify: Self.anyVersion)
    // Developers read but do not change; auditors and viewers neither.
    #expect(try await s.get("chat", tenantID: a.id, by: op(a.id, .developer)).name == "chat")
    await #expect(throws: ControlPlaneError.forbidden(.deploymentsWrite)) { try await s.rollback("chat", tenantID: a.id, by: op(a.id, .developer)) }
    await #expect(throws: ControlPlaneError.forbidden(.deploymentsRead)) { try await s.get("chat", tenantID: a.id, by: op(a.id, .viewer)) }
    await #expect(throws: ControlPlaneError.forbidden(.deploymentsWrite)) {
      try await s.deploy(DeploySpec(tenantID: a.id, name: "x", version: Self.v1), by: op(a.id, .auditor), verify: Self.anyVersion)
    }
    // Tenant b's operator and admin: a's deployment reads as not found, and cannot be changed or shadowed.
    for role in [Role.operator, .admin] {
      await #expect(throws: ControlPlaneError.notFound("tenant \(a.id)")) { try await s.get("chat", tenantID: a.id, by: op(b.id, role)) }
      await #expect(throws: ControlPlaneError.notFound("tenant \(a.id)")) { try await s.rollback("chat", tenantID: a.id, by: op(b.id, role)) }
      await #expect(throws: ControlPlaneError.notFound("tenant \(a.id)")) {
        try await s.deploy(DeploySpec(tenantID: a.id, name: "chat", version: Self.v2), by: op(b.id, role), verify: Self.anyVersion)
      }
      await #expect(throws: ControlPlaneError.notFound("deployment chat")) { try await s.get("chat", tenantID: b.id, by: op(b.id, role)) }
      #expect(try await s.list(by: op(b.id, role)).isEmpty)
    }
    // The system admin sees both tenants.
    #expect(try await s.list(by: Fixture.admin).map(\.tenantID) == [a.id])
    // Names that are not plain labels are refused before anything is stored.
    for bad in ["../x", "a b", "", "-x", "x/y"] {
      await #expect(throws: ControlPlaneError.self) {
        try await s.deploy(DeploySpec(tenantID: a.id, name: bad, version: Self.v1), by: op(a.id), verify: Self.anyVersion)
      }
    }
    // A version the registry refuses changes nothing and writes no audit record.
    struct Corrupt: Error {}
    let head = try await f.cp.store.auditHead()
    await #expect(throws: Corrupt.self) {
      try await s.deploy(DeploySpec(tenantID: a.id, name: "chat", version: Self.v2), by: op(a.id), verify: { _ in throw Corrupt() })
    }
    #expect(try await f.cp.store.auditHead() == head)
    #expect(try await s.get("chat", tenantID: a.id, by: op(a.id)).state.primary == Self.v1)
  }

  @Test(arguments: Backend.allCases)
  func staleRevisionIsAConflict(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let d = try await f.cp.deployments.deploy(DeploySpec(tenantID: Tenant.systemID, name: "chat", version: Self.v1), by: Fixture.admin, verify: Self.anyVersion)
    var stale = d
    stale.state = DeploymentState(primary: Self.v2)
    stale.revision = 2
    try await f.cp.store.commit([.update(stale, expectedRevision: 1)], audit: [])
    stale.revision = 3
    await #expect(throws: ControlPlaneError.conflict("deployment chat was changed meanwhile; retry")) {
      try await f.cp.store.commit([.update(stale, expectedRevision: 1)], audit: [])
    }
  }

  @Test(arguments: Backend.allCases)
  func guardsRollBackABadCandidateAndAuditIt(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let s = f.cp.deployments
    let t = Tenant.systemID
    try await s.deploy(DeploySpec(tenantID: t, name: "chat", version: Self.v1), by: Fixture.admin, verify: Self.anyVersion)
    f.clock.advance(by: 1)
    let guards = GuardRules(maxErrorRate: 0.1, maxP99Millis: 2000, windowSeconds: 60, minRequests: 10)
    let canary = try await s.deploy(
      DeploySpec(tenantID: t, name: "chat", version: Self.v2, strategy: .canary, weight: 50, guards: guards), by: Fixture.admin, verify: Self.anyVersion)
    f.clock.advance(by: 1)
    func rows(_ n: Int, _ v: VersionRef, _ variant: Variant, status: Int, ms: Int64, from: Int) -> [DeploymentRequest] {
      (0..<n).map { i in
        DeploymentRequest(
          responseID: "r\(from + i)", tenantID: t, deployment: "chat", version: v, variant: variant, status: status, latencyMicros: ms * 1000,
          promptTokens: 10, completionTokens: 5, time: f.clock.now())
      }
    }
    // Nine failures are too few candidate requests to judge; the primary's failures never count.
    try await s.record(rows(9, Self.v2, .candidate, status: 500, ms: 100, from: 0) + rows(50, Self.v1, .primary, status: 500, ms: 100, from: 100))
    #expect(try await s.enforceGuards().isEmpty)
    // 9 errors in 100 requests: 9 %, within the 10 % limit.
    try await s.record(rows(91, Self.v2, .candidate, status: 200, ms: 100, from: 200))
    #expect(try await s.enforceGuards().isEmpty)
    // 14 in 105: over the limit, so the candidate goes and the primary alone serves.
    try await s.record(rows(5, Self.v2, .candidate, status: 503, ms: 100, from: 400))
    let done = try await s.enforceGuards()
    #expect(done.count == 1)
    let after = try await s.get("chat", tenantID: t, by: Fixture.admin)
    #expect(after.state == DeploymentState(primary: Self.v1) && after.previous == canary.state && after.updatedBy == DeploymentService.guardActor)
    #expect(done.first?.1.contains("error rate 13.3 %") == true)
    let record = try #require(try await f.cp.store.auditRecords(AuditQuery(scope: .all, kind: .admin)).last?.draft)
    #expect(record.action == "deployment.auto_rollback" && record.actor == "system:guard" && record.detail == done.first?.1)
    #expect(record.before == ControlJSON.encode(canary) && record.after == ControlJSON.encode(after))
    #expect(try await s.enforceGuards().isEmpty)

    // A slow candidate: the p99 guard. Requests from before the candidate went live do not count.
    f.clock.advance(by: 1)
    try await s.deploy(DeploySpec(tenantID: t, name: "chat", version: Self.v2, strategy: .ab, weight: 50), by: Fixture.admin, verify: Self.anyVersion)
    f.clock.advance(by: 1)
    try await s.record(rows(20, Self.v2, .candidate, status: 200, ms: 100, from: 1000))
    #expect(try await s.enforceGuards().isEmpty)
    try await s.record(rows(1, Self.v2, .candidate, status: 200, ms: 5000, from: 2000))
    #expect(try await s.enforceGuards().first?.1.contains("p99 latency 5000 ms") == true)
  }

  /// A shadow candidate whose answers differ from the primary's too often is rolled back; its
  /// disagreement is judged only on mirrored requests, and only once there are enough of them.
  @Test(arguments: Backend.allCases)
  func shadowDisagreementGuardRollsBack(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let s = f.cp.deployments
    let t = Tenant.systemID
    try await s.deploy(DeploySpec(tenantID: t, name: "chat", version: Self.v1), by: Fixture.admin, verify: Self.anyVersion)
    f.clock.advance(by: 1)
    let guards = GuardRules(maxShadowDisagreement: 0.2, windowSeconds: 60, minRequests: 10)
    let shadow = try await s.deploy(
      DeploySpec(tenantID: t, name: "chat", version: Self.v2, strategy: .shadow, weight: 100, guards: guards), by: Fixture.admin, verify: Self.anyVersion)
    f.clock.advance(by: 1)
    func mirrored(_ n: Int, agreed: Bool, from: Int) -> [DeploymentRequest] {
      (0..<n).map { i in
        DeploymentRequest(
          responseID: "s\(from + i)", tenantID: t, deployment: "chat", version: Self.v2, variant: .shadow, status: 200, latencyMicros: 50_000,
          promptTokens: 10, completionTokens: 5, agreed: agreed, time: f.clock.now())
      }
    }
    // 2 of 10 disagree: 20 %, at the limit, not over it.
    try await s.record(mirrored(8, agreed: true, from: 0) + mirrored(2, agreed: false, from: 100))
    #expect(try await s.enforceGuards().isEmpty)
    // 5 of 13: 38 %, over it.
    try await s.record(mirrored(3, agreed: false, from: 200))
    let done = try await s.enforceGuards()
    #expect(done.count == 1 && done.first?.1.contains("disagrees with the primary on 38.5 % of 13 mirrored requests") == true, "\(done)")
    let after = try await s.get("chat", tenantID: t, by: Fixture.admin)
    #expect(after.state == DeploymentState(primary: Self.v1) && after.previous == shadow.state)
  }

  @Test(arguments: Backend.allCases)
  func feedbackAndReport(_ backend: Backend) async throws {
    let f = try await Fixture(backend: backend)
    let a = try await f.tenant("a")
    let b = try await f.tenant("b")
    let s = f.cp.deployments
    try await s.deploy(DeploySpec(tenantID: a.id, name: "chat", version: Self.v1), by: op(a.id), verify: Self.anyVersion)
    try await s.deploy(DeploySpec(tenantID: a.id, name: "chat", version: Self.v2, strategy: .ab, weight: 50), by: op(a.id), verify: Self.anyVersion)
    var log: [DeploymentRequest] = []
    for i in 0..<100 {
      let v = i % 2 == 0 ? Self.v1 : Self.v2
      log.append(
        DeploymentRequest(
          responseID: "chatcmpl-\(i)", tenantID: a.id, deployment: "chat", version: v, variant: v == Self.v1 ? .primary : .candidate,
          status: i == 3 ? 500 : 200, latencyMicros: Int64(i + 1) * 1000, promptTokens: 10, completionTokens: i, time: f.clock.now()))
    }
    log.append(
      DeploymentRequest(
        responseID: "chatcmpl-0", tenantID: a.id, deployment: "chat", version: Self.v2, variant: .shadow, status: 200, latencyMicros: 7000,
        promptTokens: 10, completionTokens: 3, agreed: false, time: f.clock.now()))
    try await s.record(log)
    let dev = op(a.id, .developer)
    let fb = try await s.submitFeedback(responseID: "chatcmpl-1", score: 1, comment: "good", by: dev)
    #expect(fb.version == Self.v2 && fb.variant == .candidate && fb.deployment == "chat")
    try await s.submitFeedback(responseID: "chatcmpl-3", score: -1, comment: "", by: dev)
    try await s.submitFeedback(responseID: "chatcmpl-0", score: 4, comment: "", by: dev)
    await #expect(throws: ControlPlaneError.conflict("response chatcmpl-1 already has feedback")) {
      try await s.submitFeedback(responseID: "chatcmpl-1", score: 1, comment: "", by: dev)
    }
    // Another tenant's response reads as not found; a viewer may not give feedback; scores are bounded.
    await #expect(throws: ControlPlaneError.self) { try await s.submitFeedback(responseID: "chatcmpl-5", score: 1, comment: "", by: op(b.id, .developer)) }
    await #expect(throws: ControlPlaneError.forbidden(.inference)) { try await s.submitFeedback(responseID: "chatcmpl-5", score: 1, comment: "", by: op(a.id, .viewer)) }
    await #expect(throws: ControlPlaneError.self) { try await s.submitFeedback(responseID: "chatcmpl-5", score: .nan, comment: "", by: dev) }

    let report = try await s.report("chat", tenantID: a.id, by: op(a.id))
    #expect(report.map(\.variant) == [.primary, .candidate, .shadow])
    let p = report[0], c = report[1], sh = report[2]
    #expect(p.version == Self.v1 && p.requests == 50 && p.errors == 0 && p.feedbackCount == 1 && p.meanScore == 4)
    #expect(c.version == Self.v2 && c.requests == 50 && c.errors == 1 && c.feedbackCount == 2 && c.meanScore == 0)
    // Candidate latencies are 2, 4, ..., 100 ms: nearest-rank p50 is the 25th (50 ms), p99 the 50th (100 ms).
    #expect(c.p50Millis == 50 && c.p99Millis == 100)
    #expect(c.completionTokens == (0..<100).filter { $0 % 2 == 1 }.reduce(0, +) && c.promptTokens == 500)
    #expect(sh.requests == 1 && sh.agreement == 0 && p.agreement == nil)
    await #expect(throws: ControlPlaneError.self) { try await s.report("chat", tenantID: a.id, by: op(b.id)) }
  }
}

import Foundation
import Testing

@testable import ControlPlane

@Suite struct RateLimiterTests {
  func principal(key: String = "keyAAAAAAAAA", tenant: String = "tn_a", keyLimits: RateLimits = .none, tenantLimits: RateLimits = .none) -> Principal {
    Principal(tenantID: tenant, keyID: key, role: .developer, keyLimits: keyLimits, tenantLimits: tenantLimits, actor: "key:\(key)")
  }

  @Test func requestsPerMinuteRefillContinuously() throws {
    let clock = ManualTime()
    let rl = RateLimiter(clock: clock)
    let p = principal(keyLimits: RateLimits(requestsPerMinute: 6))
    for _ in 0..<6 { rl.finish(try rl.admit(p), actualTokens: 0) }
    do {
      _ = try rl.admit(p)
      Issue.record("the 7th request in a minute must be refused")
    } catch {
      #expect(error.limit == QuotaLimit(scope: .key, kind: .requestsPerMinute, limit: 6))
      #expect(error.retryAfter == 10)  // one request's worth refills in 60/6 s
      #expect(error.description == "key rate limit of 6 requests per minute exceeded; retry after 10 s")
    }
    clock.advance(by: 9)
    #expect(throws: QuotaError.self) { try rl.admit(p) }
    clock.advance(by: 1)
    _ = try rl.admit(p)
    #expect(throws: QuotaError.self) { try rl.admit(p) }
    clock.advance(by: 3600)  // never more than a minute's allowance, however long the pause
    for _ in 0..<6 { _ = try rl.admit(p) }
    #expect(throws: QuotaError.self) { try rl.admit(p) }
  }

  @Test func tokensPerMinuteAreDebitedOnFinish() throws {
    let clock = ManualTime()
    let rl = RateLimiter(clock: clock)
    let p = principal(keyLimits: RateLimits(tokensPerMinute: 600))
    let a = try rl.admit(p, estimatedTokens: 100)
    rl.finish(a, actualTokens: 900)  // used far more than estimated: the bucket goes into debt
    do {
      _ = try rl.admit(p, estimatedTokens: 10)
      Issue.record("a bucket in debt must refuse")
    } catch {
      #expect(error.limit.kind == .tokensPerMinute)
      #expect(error.retryAfter == 31)  // from -300 to 10 at 10 tokens/s
    }
    clock.advance(by: 31)
    _ = try rl.admit(p, estimatedTokens: 10)
    // A request larger than the whole allowance may start on a full bucket.
    clock.advance(by: 600)
    _ = try rl.admit(principal(key: "keyBBBBBBBBB", keyLimits: RateLimits(tokensPerMinute: 600)), estimatedTokens: 5000)
  }

  @Test func concurrentRequestsAcquireAndRelease() throws {
    let rl = RateLimiter(clock: ManualTime())
    let p = principal(keyLimits: RateLimits(concurrentRequests: 2))
    let a = try rl.admit(p)
    let b = try rl.admit(p)
    #expect(rl.inFlight(key: p.keyID) == 2)
    #expect(throws: QuotaError.exceeded(QuotaLimit(scope: .key, kind: .concurrentRequests, limit: 2), retryAfter: 1)) { try rl.admit(p) }
    rl.finish(a, actualTokens: 0)
    rl.finish(a, actualTokens: 0)  // a second finish is a no-op, not a double release
    #expect(rl.inFlight(key: p.keyID) == 1)
    let c = try rl.admit(p)
    #expect(throws: QuotaError.self) { try rl.admit(p) }
    rl.finish(b, actualTokens: 0)
    rl.finish(c, actualTokens: 0)
    #expect(rl.inFlight(key: p.keyID) == 0)
  }

  @Test func tenantLimitsSpanKeysAndRefusalsConsumeNothing() throws {
    let clock = ManualTime()
    let rl = RateLimiter(clock: clock)
    let tenant = RateLimits(requestsPerMinute: 3)
    let k1 = principal(key: "key111111111", keyLimits: RateLimits(requestsPerMinute: 100), tenantLimits: tenant)
    let k2 = principal(key: "key222222222", keyLimits: RateLimits(requestsPerMinute: 1), tenantLimits: tenant)
    _ = try rl.admit(k1)
    _ = try rl.admit(k2)
    // k2's own limit refuses it; the tenant's allowance must not be spent by that refusal.
    #expect(throws: QuotaError.self) { try rl.admit(k2) }
    _ = try rl.admit(k1)
    do {
      _ = try rl.admit(k1)
      Issue.record("the tenant's 4th request must be refused")
    } catch {
      #expect(error.limit == QuotaLimit(scope: .tenant, kind: .requestsPerMinute, limit: 3))
    }
    // Another tenant is unaffected.
    _ = try rl.admit(principal(key: "key333333333", tenant: "tn_b", tenantLimits: tenant))
  }

  @Test func limitChangesApplyAtOnce() throws {
    let clock = ManualTime()
    let rl = RateLimiter(clock: clock)
    for _ in 0..<50 { _ = try rl.admit(principal(keyLimits: RateLimits(requestsPerMinute: 100))) }
    // Half the allowance is used; at 4 per minute that leaves 2.
    let tighter = principal(keyLimits: RateLimits(requestsPerMinute: 4))
    _ = try rl.admit(tighter)
    _ = try rl.admit(tighter)
    #expect(throws: QuotaError.self) { try rl.admit(tighter) }
    // Loosening works the same way: 0 of 4 left is 0 of 60 left, refilling at 1 per second.
    let looser = principal(keyLimits: RateLimits(requestsPerMinute: 60))
    #expect(throws: QuotaError.self) { try rl.admit(looser) }
    clock.advance(by: 1)
    _ = try rl.admit(looser)
  }
}

@Suite struct BudgetAndUsageTests {
  @Test func dailyKeyBudget() async throws {
    let f = try await Fixture()
    f.clock.set(ISO8601DateFormatter().date(from: "2027-03-10T22:00:00Z")!)
    let k = try await f.key(Tenant.systemID) { $0.budget = TokenBudget(tokens: 100, period: .day) }
    let p = try await f.cp.keys.verify(k.plaintext)
    try await f.cp.usage.checkBudget(p)
    try await f.cp.usage.record(p, model: "m", promptTokens: 60, completionTokens: 40)
    do {
      try await f.cp.usage.checkBudget(p)
      Issue.record("a spent budget must refuse")
    } catch let e as QuotaError {
      #expect(e.limit == QuotaLimit(scope: .key, kind: .tokenBudget(.day), limit: 100))
      #expect(e.retryAfter == 7200)  // until midnight UTC
    }
    f.clock.advance(by: 7200)
    try await f.cp.usage.checkBudget(p)
  }

  @Test func monthlyTenantBudgetSumsDaysAndKeys() async throws {
    let f = try await Fixture()
    f.clock.set(ISO8601DateFormatter().date(from: "2027-02-27T12:00:00Z")!)
    let t = try await f.tenant("acme", policy: TenantPolicy(budget: TokenBudget(tokens: 1000, period: .month)))
    let p1 = try await f.cp.keys.verify(try await f.key(t.id).plaintext)
    let p2 = try await f.cp.keys.verify(try await f.key(t.id).plaintext)
    try await f.cp.usage.record(p1, model: "a", promptTokens: 300, completionTokens: 0)
    f.clock.advance(by: 86400)
    try await f.cp.usage.record(p2, model: "b", promptTokens: 300, completionTokens: 399)
    try await f.cp.usage.checkBudget(p1)  // 999 of 1000
    try await f.cp.usage.record(p2, model: "b", promptTokens: 1, completionTokens: 0)
    await #expect(throws: QuotaError.self) { try await f.cp.usage.checkBudget(p1) }
    f.clock.advance(by: 86400)  // 2027-03-01: a new month
    try await f.cp.usage.checkBudget(p1)
    // Admission puts it all together.
    let admission = try await f.cp.admitInference(p1, model: "a", promptTokens: 5)
    f.cp.limiter.finish(admission, actualTokens: 5)
  }

  @Test func usageByTenantKeyModelAndPeriod() async throws {
    let f = try await Fixture()
    f.clock.set(ISO8601DateFormatter().date(from: "2027-01-31T12:00:00Z")!)
    let t = try await f.tenant("acme")
    let p1 = try await f.cp.keys.verify(try await f.key(t.id).plaintext)
    let p2 = try await f.cp.keys.verify(try await f.key(t.id).plaintext)
    try await f.cp.usage.record(p1, model: "a", promptTokens: 1, completionTokens: 2)
    try await f.cp.usage.record(p1, model: "a", promptTokens: 10, completionTokens: 20)
    try await f.cp.usage.record(p1, model: "b", promptTokens: 100, completionTokens: 200)
    f.clock.advance(by: 86400)
    try await f.cp.usage.record(p2, model: "a", promptTokens: 1000, completionTokens: 2000)
    let byDay = try await f.cp.usage.usage(UsageQuery(scope: .tenant(t.id)), by: Fixture.admin)
    #expect(byDay.count == 3)
    let aDay1 = try #require(byDay.first { $0.keyID == p1.keyID && $0.model == "a" })
    #expect(aDay1.period == "2027-01-31" && aDay1.promptTokens == 11 && aDay1.completionTokens == 22 && aDay1.requests == 2)
    let byMonth = try await f.cp.usage.usage(UsageQuery(scope: .tenant(t.id), model: "a", grouping: .month), by: Fixture.admin)
    #expect(Set(byMonth.map(\.period)) == ["2027-01", "2027-02"])
    let keyTotal = try await f.cp.usage.usage(UsageQuery(scope: .all, keyID: p1.keyID, grouping: .total), by: Fixture.admin)
    #expect(keyTotal.map(\.totalTokens).reduce(0, +) == 333)
    let window = try await f.cp.usage.usage(UsageQuery(scope: .all, fromDay: "2027-02-01", toDay: "2027-02-28", grouping: .total), by: Fixture.admin)
    #expect(window.map(\.totalTokens) == [3000])
  }

  @Test func inferenceAdmissionChecksPermissionAndAllowlist() async throws {
    let f = try await Fixture()
    let p = try await f.cp.keys.verify(try await f.key(Tenant.systemID) { $0.models = ["allowed"] }.plaintext)
    await #expect(throws: ControlPlaneError.self) { try await f.cp.admitInference(p, model: "other", promptTokens: 1) }
    let viewer = try await f.cp.keys.verify(try await f.key(Tenant.systemID, role: .viewer).plaintext)
    await #expect(throws: ControlPlaneError.forbidden(.inference)) { try await f.cp.admitInference(viewer, model: "allowed", promptTokens: 1) }
    let a = try await f.cp.admitInference(p, model: "allowed", promptTokens: 3)
    let call = InferenceCall(time: f.clock.now(), route: "/v1/completions", model: "allowed", status: 200, promptTokens: 3, completionTokens: 4, latencyMicros: 9, prompt: Data("hi".utf8))
    let rec = try #require(try await f.cp.finishInference(a, call, by: p))
    #expect(rec.draft.promptTokens == 3)
    #expect(try await f.cp.usage.usage(UsageQuery(scope: .all, keyID: p.keyID, grouping: .total), by: Fixture.admin).first?.totalTokens == 7)
  }
}

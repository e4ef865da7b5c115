import Foundation

/// Token usage per tenant, key, model and UTC day, kept in the store, and the token budgets checked
/// against it (per key and per tenant, per day or month).
public final class UsageMeter: Sendable {
  let store: any UsageRepository
  let clock: any TimeSource

  public init(store: any UsageRepository, clock: any TimeSource = SystemTime()) {
    self.store = store
    self.clock = clock
  }

  /// Throws `QuotaError` when the key's or the tenant's budget for the current period is spent; the
  /// Retry-After is the time until the period ends.
  public func checkBudget(_ p: Principal) async throws {
    let now = clock.now()
    let checks: [(QuotaLimit.Scope, TokenBudget?, String?)] = [(.key, p.keyBudget, p.keyID), (.tenant, p.tenantBudget, nil)]
    for (scope, budget, keyID) in checks {
      guard let budget, scope == .tenant || keyID != nil else { continue }
      let period = UTCDay.period(budget.period, containing: now)
      let used = try await store.tokensUsed(tenantID: p.tenantID, keyID: keyID, fromDay: period.from, toDay: period.to)
      if used >= budget.tokens {
        let wait = max(1, Int(period.end.timeIntervalSince(now).rounded(.up)))
        throw QuotaError.exceeded(QuotaLimit(scope: scope, kind: .tokenBudget(budget.period), limit: budget.tokens), retryAfter: wait)
      }
    }
  }

  /// Adds one finished request's tokens to today's counters.
  public func record(_ p: Principal, model: String, promptTokens: Int, completionTokens: Int) async throws {
    try await store.addUsage(
      UsageDelta(
        tenantID: p.tenantID, keyID: p.keyID ?? "", model: model, day: UTCDay.day(clock.now()),
        promptTokens: max(0, promptTokens), completionTokens: max(0, completionTokens)))
  }

  /// Usage for `usage.read` holders; outside the system tenant only the caller's own tenant is visible.
  public func usage(_ q: UsageQuery, by principal: Principal) async throws -> [UsageRow] {
    try principal.require(.usageRead)
    var q = q
    q.scope = try principal.narrow(q.scope)
    return try await store.usage(q)
  }
}

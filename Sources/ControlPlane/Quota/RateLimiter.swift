import Foundation

/// A limit that was hit, named for the error message and the 429 body.
public struct QuotaLimit: Sendable, Equatable, CustomStringConvertible {
  public enum Scope: String, Sendable { case key, tenant, login }
  public enum Kind: Sendable, Equatable {
    case requestsPerMinute, tokensPerMinute, concurrentRequests
    case tokenBudget(BudgetPeriod)
    /// Failed logins per window (seconds), per username and per client address.
    case failedLogins(windowSeconds: Int)
  }

  public var scope: Scope
  public var kind: Kind
  public var limit: Int

  public var description: String {
    switch kind {
    case .requestsPerMinute: "\(scope.rawValue) rate limit of \(limit) requests per minute"
    case .tokensPerMinute: "\(scope.rawValue) rate limit of \(limit) tokens per minute"
    case .concurrentRequests: "\(scope.rawValue) limit of \(limit) concurrent requests"
    case .tokenBudget(let p): "\(scope.rawValue) token budget of \(limit) tokens per \(p.rawValue)"
    case .failedLogins(let w): "limit of \(limit) failed logins per \(w) s"
    }
  }
}

/// Over a limit: the server answers 429 with `Retry-After: retryAfter` and this description.
public enum QuotaError: Error, Equatable, Sendable, CustomStringConvertible {
  case exceeded(QuotaLimit, retryAfter: Int)

  public var limit: QuotaLimit { switch self { case .exceeded(let l, _): l } }
  public var retryAfter: Int { switch self { case .exceeded(_, let s): s } }
  public var description: String { "\(limit) exceeded; retry after \(retryAfter) s" }
}

/// A request let through by `RateLimiter.admit`; hand it back to `finish` exactly once (a second call
/// does nothing).
public final class Admission: Sendable {
  let subjects: [(key: String, concurrent: Bool, tokensPerMinute: Int?)]
  let estimatedTokens: Int
  let done = Locked(false)

  init(subjects: [(key: String, concurrent: Bool, tokensPerMinute: Int?)], estimatedTokens: Int) {
    self.subjects = subjects
    self.estimatedTokens = estimatedTokens
  }
}

/// In-memory rate limits per key and per tenant: requests/min and tokens/min as token buckets
/// (capacity = the per-minute limit, refilled continuously at limit/60 per second, so a full minute's
/// allowance may come as a burst, never more), and concurrent requests as counters. Per process: with
/// several replicas each enforces its own share.
public final class RateLimiter: Sendable {
  struct Bucket {
    var level: Double
    var updated: Date
    var capacity: Double

    mutating func refill(_ now: Date, capacity c: Int) {
      let cap = Double(c)
      if cap != capacity {
        // A changed limit keeps the fraction of the allowance already used.
        level = level * cap / capacity
        capacity = cap
      }
      level = min(cap, level + max(0, now.timeIntervalSince(updated)) * cap / 60)
      updated = now
    }

    /// Seconds until the level reaches `need` (at least 1).
    func wait(for need: Double) -> Int { max(1, Int(((need - level) * 60 / capacity).rounded(.up))) }
  }

  struct State {
    var requests: [String: Bucket] = [:]
    var tokens: [String: Bucket] = [:]
    var inFlight: [String: Int] = [:]
  }

  let clock: any TimeSource
  let state = Locked(State())

  public init(clock: any TimeSource = SystemTime()) { self.clock = clock }

  /// Checks every limit of the key and the tenant; only if all pass does it count the request, debit
  /// `estimatedTokens` (the prompt's tokens) and take a concurrency slot. Nothing is consumed on refusal.
  public func admit(_ p: Principal, estimatedTokens: Int = 0) throws(QuotaError) -> Admission {
    let now = clock.now()
    let estimate = Double(max(0, estimatedTokens))
    let subjects: [(String, QuotaLimit.Scope, RateLimits)] = [
      ("k:" + (p.keyID ?? p.userID ?? p.actor), .key, p.keyLimits), ("t:" + p.tenantID, .tenant, p.tenantLimits),
    ]
    return try state.withLock { (s: inout State) throws(QuotaError) -> Admission in
      for (id, scope, l) in subjects {
        if let c = l.concurrentRequests, s.inFlight[id, default: 0] >= c {
          throw .exceeded(QuotaLimit(scope: scope, kind: .concurrentRequests, limit: c), retryAfter: 1)
        }
        if let r = l.requestsPerMinute {
          var b = s.requests[id] ?? Bucket(level: Double(r), updated: now, capacity: Double(r))
          b.refill(now, capacity: r)
          s.requests[id] = b
          if b.level < 1 { throw .exceeded(QuotaLimit(scope: scope, kind: .requestsPerMinute, limit: r), retryAfter: b.wait(for: 1)) }
        }
        if let t = l.tokensPerMinute {
          var b = s.tokens[id] ?? Bucket(level: Double(t), updated: now, capacity: Double(t))
          b.refill(now, capacity: t)
          s.tokens[id] = b
          // A request larger than the whole allowance may start on a full bucket; otherwise it waits.
          let need = max(1, min(estimate, Double(t)))
          if b.level < need { throw .exceeded(QuotaLimit(scope: scope, kind: .tokensPerMinute, limit: t), retryAfter: b.wait(for: need)) }
        }
      }
      for (id, _, l) in subjects {
        if l.requestsPerMinute != nil { s.requests[id]!.level -= 1 }
        if l.tokensPerMinute != nil { s.tokens[id]!.level -= estimate }
        if l.concurrentRequests != nil { s.inFlight[id, default: 0] += 1 }
      }
      if s.requests.count + s.tokens.count > 100_000 { Self.prune(&s, now) }
      return Admission(
        subjects: subjects.map { ($0.0, $0.2.concurrentRequests != nil, $0.2.tokensPerMinute) }, estimatedTokens: Int(estimate))
    }
  }

  /// Settles a request: debits the tokens it really used beyond the estimate (or refunds the excess)
  /// and frees its concurrency slot.
  public func finish(_ a: Admission, actualTokens: Int) {
    guard a.done.withLock({ d in defer { d = true }; return !d }) else { return }
    let now = clock.now()
    state.withLock { s in
      for sub in a.subjects {
        if let t = sub.tokensPerMinute, var b = s.tokens[sub.key] {
          b.refill(now, capacity: t)
          b.level -= Double(max(0, actualTokens) - a.estimatedTokens)
          b.level = min(b.level, b.capacity)
          s.tokens[sub.key] = b
        }
        if sub.concurrent {
          let n = s.inFlight[sub.key, default: 0] - 1
          s.inFlight[sub.key] = n > 0 ? n : nil
        }
      }
    }
  }

  /// Requests in flight for a key or tenant id (for metrics and tests).
  public func inFlight(key: String? = nil, tenant: String? = nil) -> Int {
    state.withLock { s in
      if let key { return s.inFlight["k:" + key] ?? 0 }
      if let tenant { return s.inFlight["t:" + tenant] ?? 0 }
      return 0
    }
  }

  /// Drops buckets that have refilled completely (they would start full anyway).
  static func prune(_ s: inout State, _ now: Date) {
    for (k, var b) in s.requests {
      b.refill(now, capacity: Int(b.capacity))
      if b.level >= b.capacity { s.requests[k] = nil }
    }
    for (k, var b) in s.tokens {
      b.refill(now, capacity: Int(b.capacity))
      if b.level >= b.capacity { s.tokens[k] = nil }
    }
  }
}

import Crypto
import Foundation

/// Short-lived login sessions for people who signed in with directory credentials (console, admin
/// API). Tokens are `hs_` plus 43 base62 characters (256 bits); only their SHA-256 is held, in
/// memory: a restart logs everyone out, which is what a short-lived session should do anyway.
public final class SessionService: Sendable {
  struct Session {
    var principal: Principal
    var expiresAt: Date
  }

  let sessions = Locked<[Data: Session]>([:])
  let clock: any TimeSource
  public let ttl: TimeInterval
  /// More live sessions than this and the oldest are dropped (a flood of logins cannot grow memory).
  public let maxSessions: Int

  public static let prefix = "hs_"

  public init(ttl: TimeInterval = 900, maxSessions: Int = 10_000, clock: any TimeSource = SystemTime()) {
    self.ttl = ttl
    self.maxSessions = maxSessions
    self.clock = clock
  }

  /// Starts a session for `principal`; returns the token (show it once) and when it expires.
  public func start(_ principal: Principal) -> (token: String, expiresAt: Date) {
    let token = Self.prefix + Base62.random(count: 43)
    let now = clock.now()
    let expires = now.addingTimeInterval(ttl)
    sessions.withLock { s in
      s = s.filter { $0.value.expiresAt > now }
      if s.count >= maxSessions, let oldest = s.min(by: { $0.value.expiresAt < $1.value.expiresAt }) { s[oldest.key] = nil }
      s[Self.digest(token)] = Session(principal: principal, expiresAt: expires)
    }
    return (token, expires)
  }

  /// The caller of a live session; `KeyVerifyError.unknown`/`.expired` otherwise.
  public func verify(_ token: String) throws(KeyVerifyError) -> Principal {
    guard token.hasPrefix(Self.prefix), token.utf8.count == Self.prefix.utf8.count + 43 else { throw .malformed }
    let d = Self.digest(token)
    let now = clock.now()
    let found = sessions.withLock { s -> Session? in
      guard let v = s[d] else { return nil }
      if v.expiresAt <= now { s[d] = nil }
      return v
    }
    guard let found else { throw .unknown }
    guard found.expiresAt > now else { throw .expired }
    return found.principal
  }

  /// Ends a session (logout). Ending an unknown one changes nothing.
  public func end(_ token: String) {
    let d = Self.digest(token)
    sessions.withLock { $0[d] = nil }
  }

  public var count: Int { sessions.withLock { $0.count } }

  static func digest(_ token: String) -> Data { Data(SHA256.hash(data: Data(token.utf8))) }
}

/// Slows password guessing: after `maxFailures` failed logins within `window` for one username, or
/// `maxFailuresPerClient` from one client address (higher: several people may share a proxy),
/// further attempts are refused until the window has passed. A success clears the username's count.
public final class LoginThrottle: Sendable {
  let failures = Locked<[String: [Date]]>([:])
  let clock: any TimeSource
  public let maxFailures: Int
  public let maxFailuresPerClient: Int
  public let window: TimeInterval

  public init(maxFailures: Int = 5, maxFailuresPerClient: Int? = nil, window: TimeInterval = 300, clock: any TimeSource = SystemTime()) {
    self.maxFailures = maxFailures
    self.maxFailuresPerClient = maxFailuresPerClient ?? maxFailures * 4
    self.window = window
    self.clock = clock
  }

  /// Throws `QuotaError` (429 with Retry-After) when `username` or `client` has failed too often.
  public func check(username: String, client: String?) throws(QuotaError) {
    let now = clock.now()
    let hit = failures.withLock { f -> (wait: TimeInterval, limit: Int)? in
      var worst: (wait: TimeInterval, limit: Int)?
      for (i, k) in Self.keys(username, client).enumerated() {
        let limit = i == 0 ? maxFailures : maxFailuresPerClient
        let recent = (f[k] ?? []).filter { now.timeIntervalSince($0) < window }
        f[k] = recent.isEmpty ? nil : recent
        // The oldest failure that still counts against the limit decides when the next try is allowed.
        if recent.count >= limit {
          let wait = window - now.timeIntervalSince(recent[recent.count - limit])
          if wait > (worst?.wait ?? 0) { worst = (wait, limit) }
        }
      }
      return worst
    }
    if let hit {
      throw QuotaError.exceeded(
        QuotaLimit(scope: .login, kind: .failedLogins(windowSeconds: Int(window)), limit: hit.limit), retryAfter: max(1, Int(hit.wait.rounded(.up))))
    }
  }

  public func failed(username: String, client: String?) {
    let now = clock.now()
    failures.withLock { f in
      for k in Self.keys(username, client) { f[k, default: []].append(now) }
      if f.count > 100_000 { f = f.filter { now.timeIntervalSince($0.value.last ?? .distantPast) < window } }
    }
  }

  public func succeeded(username: String) {
    failures.withLock { $0["user:" + username.lowercased()] = nil }
  }

  static func keys(_ username: String, _ client: String?) -> [String] {
    ["user:" + username.lowercased()] + (client.map { ["client:" + $0] } ?? [])
  }
}

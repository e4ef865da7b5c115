import Foundation

/// Per-minute rate limits and a concurrency cap; nil means no limit at that level.
public struct RateLimits: Codable, Sendable, Equatable {
  public var requestsPerMinute: Int?
  public var tokensPerMinute: Int?
  public var concurrentRequests: Int?

  public init(requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, concurrentRequests: Int? = nil) {
    self.requestsPerMinute = requestsPerMinute
    self.tokensPerMinute = tokensPerMinute
    self.concurrentRequests = concurrentRequests
  }

  public static let none = RateLimits()

  /// Each field from `self` where set, otherwise from `defaults` (a key's own limits over its tenant's defaults).
  public func over(_ defaults: RateLimits) -> RateLimits {
    RateLimits(
      requestsPerMinute: requestsPerMinute ?? defaults.requestsPerMinute,
      tokensPerMinute: tokensPerMinute ?? defaults.tokensPerMinute,
      concurrentRequests: concurrentRequests ?? defaults.concurrentRequests)
  }

  func validate() throws(ControlPlaneError) {
    for (name, v) in [("requests/min", requestsPerMinute), ("tokens/min", tokensPerMinute), ("concurrent", concurrentRequests)] {
      if let v, v < 1 || v > 1_000_000_000 { throw .invalid("\(name) limit must be between 1 and 1e9, got \(v)") }
    }
  }
}

/// A budget period; usage is kept per UTC day and summed for months.
public enum BudgetPeriod: String, Codable, Sendable, CaseIterable {
  case day, month
}

/// A cap on prompt + completion tokens per period.
public struct TokenBudget: Codable, Sendable, Equatable {
  public var tokens: Int
  public var period: BudgetPeriod

  public init(tokens: Int, period: BudgetPeriod) {
    self.tokens = tokens
    self.period = period
  }

  /// Parses `N/day` or `N/month` (CLI syntax).
  public init?(parsing s: String) {
    let parts = s.split(separator: "/").map(String.init)
    guard parts.count == 2, let n = Int(parts[0]), n > 0, let p = BudgetPeriod(rawValue: parts[1]) else { return nil }
    self.init(tokens: n, period: p)
  }

  public var text: String { "\(tokens)/\(period.rawValue)" }
}

/// A tenant's policy: what is kept and the defaults its keys get.
public struct TenantPolicy: Codable, Sendable, Equatable {
  /// Keep prompt contents in the audit trail (always encrypted; refused without a master key).
  public var storePrompts: Bool = false
  /// Limits for keys that set none of their own, field by field.
  public var defaultKeyLimits: RateLimits = .none
  /// Limits on the tenant as a whole, across all its keys.
  public var tenantLimits: RateLimits = .none
  /// Token budget for the tenant as a whole.
  public var budget: TokenBudget? = nil

  public init(storePrompts: Bool = false, defaultKeyLimits: RateLimits = .none, tenantLimits: RateLimits = .none, budget: TokenBudget? = nil) {
    self.storePrompts = storePrompts
    self.defaultKeyLimits = defaultKeyLimits
    self.tenantLimits = tenantLimits
    self.budget = budget
  }
}

public struct Tenant: Codable, Sendable, Equatable {
  /// Generated, stable (`tn_...`; the system tenant is `default`).
  public var id: String
  /// Unique, free-form display name (any text: names are data, never SQL).
  public var name: String
  public var policy: TenantPolicy
  public var createdAt: Date

  public init(id: String, name: String, policy: TenantPolicy, createdAt: Date) {
    self.id = id
    self.name = name
    self.policy = policy
    self.createdAt = createdAt
  }

  /// The system tenant: created at bootstrap; its admins act on every tenant.
  public static let systemID = "default"
}

public enum UserSource: String, Codable, Sendable {
  case local, ldap
}

public struct User: Codable, Sendable, Equatable {
  public var id: String
  public var tenantID: String
  /// Unique within the tenant (the LDAP uid or a local name).
  public var name: String
  public var role: Role
  public var source: UserSource
  public var createdAt: Date

  public init(id: String, tenantID: String, name: String, role: Role, source: UserSource, createdAt: Date) {
    self.id = id
    self.tenantID = tenantID
    self.name = name
    self.role = role
    self.source = source
    self.createdAt = createdAt
  }
}

/// An API key as stored: everything but the secret, of which only an HMAC is kept.
public struct APIKeyRecord: Codable, Sendable, Equatable {
  public var id: String
  public var tenantID: String
  public var userID: String?
  public var name: String
  public var description: String
  public var role: Role
  /// Models the key may call; empty means all the tenant may use.
  public var models: [String]
  public var expiresAt: Date?
  /// The key's own limits; unset fields fall back to the tenant's `defaultKeyLimits`.
  public var limits: RateLimits
  public var budget: TokenBudget?
  public var revoked: Bool
  public var revokedAt: Date?
  public var lastUsedAt: Date?
  public var createdAt: Date
  /// HMAC-SHA256 of the secret under the server secret (never the secret itself).
  public var secretMAC: Data

  public init(
    id: String, tenantID: String, userID: String? = nil, name: String, description: String = "", role: Role,
    models: [String] = [], expiresAt: Date? = nil, limits: RateLimits = .none, budget: TokenBudget? = nil,
    revoked: Bool = false, revokedAt: Date? = nil, lastUsedAt: Date? = nil, createdAt: Date, secretMAC: Data
  ) {
    self.id = id
    self.tenantID = tenantID
    self.userID = userID
    self.name = name
    self.description = description
    self.role = role
    self.models = models
    self.expiresAt = expiresAt
    self.limits = limits
    self.budget = budget
    self.revoked = revoked
    self.revokedAt = revokedAt
    self.lastUsedAt = lastUsedAt
    self.createdAt = createdAt
    self.secretMAC = secretMAC
  }

  /// The record without its MAC, for audit before/after snapshots and listings.
  public var redacted: APIKeyRecord {
    var r = self
    r.secretMAC = Data()
    return r
  }
}

/// Names are free text but bounded and free of control characters (they reach logs and terminals).
func validateName(_ name: String, what: String, max: Int = 200) throws(ControlPlaneError) {
  guard !name.isEmpty else { throw .invalid("\(what) must not be empty") }
  guard name.utf8.count <= max else { throw .invalid("\(what) is longer than \(max) bytes") }
  if name.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
    throw .invalid("\(what) must not contain control characters")
  }
}

/// `prefix` + 16 random base62 characters.
func newID(_ prefix: String) -> String { prefix + Base62.random(count: 16) }

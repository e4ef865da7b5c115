import Foundation

/// Which tenants' rows a query may touch. Every repository read and write that concerns tenant data
/// takes one, so isolation holds in the storage layer itself, not only in the callers.
public enum TenantScope: Sendable, Equatable {
  /// Every tenant: only system administrators (admin role in the `default` tenant) and the local CLI.
  case all
  case tenant(String)

  public func allows(_ tenantID: String) -> Bool {
    switch self {
    case .all: true
    case .tenant(let t): t == tenantID
    }
  }
}

/// The authenticated caller of a request or a command: who, in which tenant, with which role and limits.
public struct Principal: Sendable, Equatable {
  public var tenantID: String
  public var userID: String?
  /// The API key used, if any (nil for the local CLI and for session logins).
  public var keyID: String?
  public var role: Role
  /// Models this caller may call; empty means all.
  public var models: [String]
  /// The key's effective limits (its own over its tenant's defaults).
  public var keyLimits: RateLimits
  public var keyBudget: TokenBudget?
  public var tenantLimits: RateLimits
  public var tenantBudget: TokenBudget?
  /// The tenant's policy says to keep prompt contents (encrypted) in the audit trail.
  public var storePrompts: Bool
  /// A label for audit records: `key:<id>`, `user:<name>`, `cli:<login>`.
  public var actor: String

  public init(
    tenantID: String, userID: String? = nil, keyID: String? = nil, role: Role, models: [String] = [],
    keyLimits: RateLimits = .none, keyBudget: TokenBudget? = nil, tenantLimits: RateLimits = .none,
    tenantBudget: TokenBudget? = nil, storePrompts: Bool = false, actor: String
  ) {
    self.tenantID = tenantID
    self.userID = userID
    self.keyID = keyID
    self.role = role
    self.models = models
    self.keyLimits = keyLimits
    self.keyBudget = keyBudget
    self.tenantLimits = tenantLimits
    self.tenantBudget = tenantBudget
    self.storePrompts = storePrompts
    self.actor = actor
  }

  /// The operator at the machine: the CLI acting directly on the data dir (whoever can read the data
  /// dir already holds every secret in it, so there is nothing to check).
  public static func localOperator(_ login: String = ProcessInfo.processInfo.environment["USER"] ?? "root") -> Principal {
    Principal(tenantID: Tenant.systemID, role: .admin, actor: "cli:\(login)")
  }

  public func can(_ permission: Permission) -> Bool { role.can(permission) }

  /// True when the allowlist is empty or names the model.
  public func mayUse(model: String) -> Bool { models.isEmpty || models.contains(model) }

  /// An admin of the system tenant acts on every tenant; everyone else only on their own.
  public var isSystemAdmin: Bool { role == .admin && tenantID == Tenant.systemID }

  public var scope: TenantScope { isSystemAdmin ? .all : .tenant(tenantID) }

  /// Throws unless this caller holds `permission`.
  public func require(_ permission: Permission) throws(ControlPlaneError) {
    guard can(permission) else { throw .forbidden(permission) }
  }

  /// The part of `asked` this caller may see: everything for a system admin, otherwise its own tenant
  /// (asking for another tenant reads as not found).
  public func narrow(_ asked: TenantScope) throws(ControlPlaneError) -> TenantScope {
    switch (scope, asked) {
    case (.all, _): return asked
    case (.tenant(let own), .tenant(let other)) where other != own: throw .notFound("tenant \(other)")
    case (.tenant(let own), _): return .tenant(own)
    }
  }

  /// Throws unless this caller holds `permission` for `tenantID`'s data. Another tenant's data reads as
  /// not found, so a caller cannot learn what exists outside its tenant.
  public func require(_ permission: Permission, inTenant tenantID: String) throws(ControlPlaneError) {
    try require(permission)
    guard scope.allows(tenantID) else { throw .notFound("tenant \(tenantID)") }
  }
}

/// Errors of the control-plane services, each naming the problem in one line.
public enum ControlPlaneError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalid(String)
  case notFound(String)
  case conflict(String)
  case forbidden(Permission)
  case storage(String)

  public var description: String {
    switch self {
    case .invalid(let m): m
    case .notFound(let m): "\(m) not found"
    case .conflict(let m): m
    case .forbidden(let p): "permission \(p.rawValue) required"
    case .storage(let m): "storage error: \(m)"
    }
  }
}

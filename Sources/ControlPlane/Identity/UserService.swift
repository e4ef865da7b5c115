import Foundation
import Logging

/// Users of a tenant: local ones made by an admin, and LDAP ones recorded at their first login.
public final class UserService: Sendable {
  let store: any ControlStore
  let audit: AuditLog
  let clock: any TimeSource

  public init(store: any ControlStore, audit: AuditLog, clock: any TimeSource = SystemTime()) {
    self.store = store
    self.audit = audit
    self.clock = clock
  }

  /// Needs `users.write` in the tenant; a caller cannot grant a role stronger than its own.
  public func create(tenantID: String, name: String, role: Role, source: UserSource = .local, by principal: Principal) async throws -> User {
    try principal.require(.usersWrite, inTenant: tenantID)
    guard role.permissions.isSubset(of: principal.role.permissions) else {
      throw ControlPlaneError.invalid("cannot create a user with role \(role.rawValue), which has permissions you lack")
    }
    try validateName(name, what: "user name")
    guard try await store.tenant(id: tenantID) != nil else { throw ControlPlaneError.notFound("tenant \(tenantID)") }
    let u = User(id: newID("us_"), tenantID: tenantID, name: name, role: role, source: source, createdAt: AuditCanonical.truncated(clock.now()))
    try await commit([.insertUser(u)], principal, "user.create", u, before: nil, after: ControlJSON.encode(u))
    return u
  }

  public func list(tenantID: String? = nil, by principal: Principal) async throws -> [User] {
    if let tenantID {
      try principal.require(.usersRead, inTenant: tenantID)
      return try await store.users(scope: .tenant(tenantID))
    }
    try principal.require(.usersRead)
    return try await store.users(scope: principal.scope)
  }

  /// A user by id, or by name within `tenantID`, if the caller may see it.
  public func get(_ idOrName: String, tenantID: String? = nil, by principal: Principal) async throws -> User {
    try principal.require(.usersRead)
    if let u = try await store.user(id: idOrName, scope: principal.scope) { return u }
    if let tenantID, principal.scope.allows(tenantID), let u = try await store.user(named: idOrName, tenantID: tenantID) { return u }
    throw ControlPlaneError.notFound("user \(idOrName)")
  }

  /// Removes a user and, with it, every API key it holds (recorded in the audit record's before).
  public func remove(_ id: String, by principal: Principal) async throws {
    try principal.require(.usersWrite)
    guard let u = try await store.user(id: id, scope: principal.scope) else { throw ControlPlaneError.notFound("user \(id)") }
    let keys = try await store.apiKeys(scope: .tenant(u.tenantID), userID: u.id)
    let snapshot = UserSnapshot(user: u, keys: keys.map(\.id))
    try await commit([.deleteUser(id: u.id, tenantID: u.tenantID)], principal, "user.remove", u, before: ControlJSON.encode(snapshot), after: nil)
  }

  struct UserSnapshot: Encodable {
    var user: User
    var keys: [String]
  }

  func commit(_ m: [ControlMutation], _ p: Principal, _ action: String, _ u: User, before: String?, after: String?) async throws {
    let draft = AuditDraft(
      time: clock.now(), kind: .admin, tenantID: u.tenantID, keyID: p.keyID, userID: p.userID, actor: p.actor, action: action,
      target: "user:\(u.id)", before: before, after: after)
    let records = try await store.commit(m, audit: [draft])
    if let last = records.last { await audit.checkpointAfter(last) }
  }
}

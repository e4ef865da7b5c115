import Foundation
import Logging

/// Tenants: created and changed only by system administrators (admins of the `default` tenant), since
/// a tenant's policy holds its own limits and budget. Everyone with `tenants.read` sees their own tenant.
public final class TenantService: Sendable {
  let store: any ControlStore
  let audit: AuditLog
  let clock: any TimeSource
  /// Whether a master key is configured: without one, no tenant may keep prompts.
  let encryptionAvailable: Bool

  public init(store: any ControlStore, audit: AuditLog, encryptionAvailable: Bool, clock: any TimeSource = SystemTime()) {
    self.store = store
    self.audit = audit
    self.encryptionAvailable = encryptionAvailable
    self.clock = clock
  }

  public func create(name: String, policy: TenantPolicy = TenantPolicy(), by principal: Principal) async throws -> Tenant {
    try requireSystem(principal)
    try validate(name: name, policy: policy)
    let t = Tenant(id: newID("tn_"), name: name, policy: policy, createdAt: AuditCanonical.truncated(clock.now()))
    try await commit([.insertTenant(t)], principal, "tenant.create", before: nil, after: t)
    return t
  }

  /// Creates the system tenant if missing (bootstrap; idempotent, safe across processes).
  @discardableResult
  public func ensureSystemTenant(by principal: Principal) async throws -> Tenant {
    if let t = try await store.tenant(id: Tenant.systemID) { return t }
    let t = Tenant(id: Tenant.systemID, name: Tenant.systemID, policy: TenantPolicy(), createdAt: AuditCanonical.truncated(clock.now()))
    do { try await commit([.insertTenant(t)], principal, "tenant.create", before: nil, after: t) } catch ControlPlaneError.conflict {
      // Another process bootstrapped at the same moment.
      if let t = try await store.tenant(id: Tenant.systemID) { return t }
      throw ControlPlaneError.conflict("a tenant named \(Tenant.systemID) exists with another id")
    }
    return t
  }

  public func list(by principal: Principal) async throws -> [Tenant] {
    try principal.require(.tenantsRead)
    return try await store.tenants(scope: principal.scope)
  }

  /// A tenant by id or by name, if the caller may see it.
  public func get(_ idOrName: String, by principal: Principal) async throws -> Tenant {
    try principal.require(.tenantsRead)
    let found: Tenant?
    if let t = try await store.tenant(id: idOrName) { found = t } else { found = try await store.tenant(named: idOrName) }
    guard let t = found, principal.scope.allows(t.id) else { throw ControlPlaneError.notFound("tenant \(idOrName)") }
    return t
  }

  /// Renames a tenant or changes its policy; `edit` may not change the id.
  @discardableResult
  public func update(_ idOrName: String, by principal: Principal, _ edit: (inout Tenant) throws -> Void) async throws -> Tenant {
    try requireSystem(principal)
    let before = try await get(idOrName, by: principal)
    var after = before
    try edit(&after)
    after.id = before.id
    after.createdAt = before.createdAt
    guard after != before else { return before }
    try validate(name: after.name, policy: after.policy)
    try await commit([.updateTenant(after)], principal, "tenant.update", before: before, after: after)
    return after
  }

  func requireSystem(_ p: Principal) throws {
    try p.require(.tenantsWrite)
    // Managing tenants is a system-wide permission: a tenant admin holds tenants.write only for its own tenant.
    guard p.isSystemAdmin else { throw ControlPlaneError.forbidden(.tenantsWrite) }
  }

  func validate(name: String, policy: TenantPolicy) throws {
    try validateName(name, what: "tenant name")
    try policy.defaultKeyLimits.validate()
    try policy.tenantLimits.validate()
    if let b = policy.budget, b.tokens < 1 { throw ControlPlaneError.invalid("token budget must be positive") }
    if policy.storePrompts && !encryptionAvailable {
      throw ControlPlaneError.invalid("keeping prompts needs encryption at rest: give --master-key-file or HEARTH_MASTER_KEY")
    }
  }

  func commit(_ m: [ControlMutation], _ p: Principal, _ action: String, before: Tenant?, after: Tenant) async throws {
    let draft = AuditDraft(
      time: clock.now(), kind: .admin, tenantID: after.id, keyID: p.keyID, userID: p.userID, actor: p.actor, action: action,
      target: "tenant:\(after.id)", before: before.map(ControlJSON.encode), after: ControlJSON.encode(after))
    let records = try await store.commit(m, audit: [draft])
    if let last = records.last { await audit.checkpointAfter(last) }
  }
}

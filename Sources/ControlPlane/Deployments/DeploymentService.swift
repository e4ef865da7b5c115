import Foundation
import Logging

/// What `deploy` should make of a deployment.
public struct DeploySpec: Sendable, Equatable {
  public var tenantID: String
  /// The public model name clients send.
  public var name: String
  public var version: VersionRef
  /// `single` makes `version` the only one served; the others put it beside the current primary.
  public var strategy: DeploymentStrategy
  /// Percent for canary and ab (required), and for shadow (default 100: every request mirrored).
  public var weight: Int?
  public var sticky: StickyBy
  /// New guard rules; nil keeps the current ones.
  public var guards: GuardRules?

  public init(
    tenantID: String, name: String, version: VersionRef, strategy: DeploymentStrategy = .single, weight: Int? = nil, sticky: StickyBy = .user,
    guards: GuardRules? = nil
  ) {
    self.tenantID = tenantID
    self.name = name
    self.version = version
    self.strategy = strategy
    self.weight = weight
    self.sticky = sticky
    self.guards = guards
  }
}

/// Deployments: create and change them (deploy, promote, rollback, guards), each change audited with
/// the deployment before and after; operators and admins change them, developers may read them. A
/// deployment belongs to one tenant: another tenant's deployment reads as not found.
public final class DeploymentService: Sendable {
  let store: any ControlStore
  let audit: AuditLog
  let clock: any TimeSource
  let logger: Logger

  /// The actor of automatic rollbacks in the audit trail.
  public static let guardActor = "system:guard"

  public init(store: any ControlStore, audit: AuditLog, clock: any TimeSource = SystemTime(), logger: Logger = Logger(label: "hearth.deployments")) {
    self.store = store
    self.audit = audit
    self.clock = clock
    self.logger = logger
  }

  // MARK: reads

  public func get(_ name: String, tenantID: String, by p: Principal) async throws -> Deployment {
    try p.require(.deploymentsRead, inTenant: tenantID)
    guard let d = try await store.deployment(named: name, tenantID: tenantID) else { throw ControlPlaneError.notFound("deployment \(name)") }
    return d
  }

  /// One tenant's deployments, or (system admins, `tenantID` nil) every tenant's.
  public func list(tenantID: String? = nil, by p: Principal) async throws -> [Deployment] {
    if let tenantID {
      try p.require(.deploymentsRead, inTenant: tenantID)
      return try await store.deployments(scope: .tenant(tenantID))
    }
    try p.require(.deploymentsRead)
    return try await store.deployments(scope: p.scope)
  }

  // MARK: changes

  /// Creates the deployment (strategy `single` only: there is nothing to compare a candidate with yet)
  /// or changes it. `verify` checks the version exists and is intact (the registry re-hashes it), so a
  /// corrupt or unknown version is refused before anything changes.
  @discardableResult
  public func deploy(_ spec: DeploySpec, by p: Principal, verify: @Sendable (VersionRef) async throws -> Void) async throws -> Deployment {
    try p.require(.deploymentsWrite, inTenant: spec.tenantID)
    try Self.validate(name: spec.name)
    try Self.validate(spec.version)
    try spec.guards?.validate()
    let weight: Int
    switch spec.strategy {
    case .single: weight = 0
    case .canary, .ab:
      guard let w = spec.weight else { throw ControlPlaneError.invalid("strategy \(spec.strategy.rawValue) needs a weight (percent of traffic for the new version)") }
      weight = w
    case .shadow: weight = spec.weight ?? 100
    }
    guard (0...100).contains(weight) else { throw ControlPlaneError.invalid("weight must be a percentage from 0 to 100, got \(weight)") }
    try await verify(spec.version)
    let now = AuditCanonical.truncated(clock.now())
    guard let before = try await store.deployment(named: spec.name, tenantID: spec.tenantID) else {
      guard spec.strategy == .single else {
        throw ControlPlaneError.invalid("deployment \(spec.name) does not exist yet: deploy a first version with strategy single")
      }
      guard try await store.tenant(id: spec.tenantID) != nil else { throw ControlPlaneError.notFound("tenant \(spec.tenantID)") }
      let d = Deployment(
        id: newID("dp_"), tenantID: spec.tenantID, name: spec.name, state: DeploymentState(primary: spec.version), guards: spec.guards,
        createdAt: now, updatedAt: now, updatedBy: p.actor)
      try await commit(.insert(d), p, "deployment.create", before: nil, after: d)
      return d
    }
    var state: DeploymentState
    if spec.strategy == .single {
      state = DeploymentState(primary: spec.version)
    } else {
      guard spec.version != before.state.primary else {
        throw ControlPlaneError.invalid("\(spec.version) is already the primary of \(spec.name); deploy another version as the candidate")
      }
      state = DeploymentState(strategy: spec.strategy, primary: before.state.primary, candidate: spec.version, weight: weight, sticky: spec.sticky)
    }
    var after = before
    after.state = state
    if let g = spec.guards { after.guards = g.isEmpty ? nil : g }
    guard after != before else { return before }
    if after.state != before.state { after.previous = before.state }
    return try await change(before, after, p, "deployment.deploy", now: now)
  }

  /// Makes the candidate the only version served.
  @discardableResult
  public func promote(_ name: String, tenantID: String, by p: Principal) async throws -> Deployment {
    try p.require(.deploymentsWrite, inTenant: tenantID)
    let before = try await get(name, tenantID: tenantID, by: p)
    guard let c = before.state.candidate, before.state.strategy != .single else {
      throw ControlPlaneError.invalid("deployment \(name) has no candidate to promote (it serves \(before.state.summary))")
    }
    var after = before
    after.previous = before.state
    after.state = DeploymentState(primary: c)
    return try await change(before, after, p, "deployment.promote", now: AuditCanonical.truncated(clock.now()))
  }

  /// Puts back the state before the last change (and keeps the one it replaces, so a rollback can
  /// itself be undone by rolling back again).
  @discardableResult
  public func rollback(_ name: String, tenantID: String, by p: Principal) async throws -> Deployment {
    try p.require(.deploymentsWrite, inTenant: tenantID)
    let before = try await get(name, tenantID: tenantID, by: p)
    guard let previous = before.previous else { throw ControlPlaneError.invalid("deployment \(name) has no previous state to roll back to") }
    var after = before
    after.previous = before.state
    after.state = previous
    return try await change(before, after, p, "deployment.rollback", now: AuditCanonical.truncated(clock.now()))
  }

  /// Replaces the guard rules (empty or nil: none).
  @discardableResult
  public func setGuards(_ name: String, tenantID: String, guards: GuardRules?, by p: Principal) async throws -> Deployment {
    try p.require(.deploymentsWrite, inTenant: tenantID)
    try guards?.validate()
    let before = try await get(name, tenantID: tenantID, by: p)
    var after = before
    after.guards = (guards?.isEmpty ?? true) ? nil : guards
    guard after != before else { return before }
    return try await change(before, after, p, "deployment.guards", now: AuditCanonical.truncated(clock.now()))
  }

  /// Drops the candidate of `d` (serving only its primary) because it broke a guard rule; audited as
  /// `deployment.auto_rollback` by `system:guard` with the reason. Returns nil when `d` changed meanwhile.
  @discardableResult
  public func autoRollback(_ d: Deployment, reason: String) async throws -> Deployment? {
    guard d.state.candidate != nil else { return nil }
    var after = d
    after.previous = d.state
    after.state = DeploymentState(primary: d.state.primary)
    let p = Principal(tenantID: d.tenantID, role: .operator, actor: Self.guardActor)
    do {
      return try await change(d, after, p, "deployment.auto_rollback", now: AuditCanonical.truncated(clock.now()), detail: reason)
    } catch ControlPlaneError.conflict(_) {
      return nil
    }
  }

  func change(_ before: Deployment, _ after: Deployment, _ p: Principal, _ action: String, now: Date, detail: String? = nil) async throws -> Deployment {
    var after = after
    after.revision = before.revision + 1
    after.updatedAt = now
    after.updatedBy = p.actor
    try await commit(.update(after, expectedRevision: before.revision), p, action, before: before, after: after, detail: detail)
    logger.info(
      "deployment changed", metadata: ["deployment": "\(after.name)", "tenant": "\(after.tenantID)", "action": "\(action)", "state": "\(after.state.summary)"])
    return after
  }

  func commit(_ m: DeploymentMutation, _ p: Principal, _ action: String, before: Deployment?, after: Deployment, detail: String? = nil) async throws {
    let draft = AuditDraft(
      time: clock.now(), kind: .admin, tenantID: after.tenantID, keyID: p.keyID, userID: p.userID, actor: p.actor, action: action,
      target: "deployment:\(after.name)", before: before.map(ControlJSON.encode), after: ControlJSON.encode(after), detail: detail)
    let records = try await store.commit([m], audit: [draft])
    if let last = records.last { await audit.checkpointAfter(last) }
  }

  // MARK: validation

  /// Deployment names are what clients send as `model`: the registry's charset, so a name is never
  /// mistaken for a path or another syntax.
  static func validate(name: String) throws(ControlPlaneError) {
    try validateName(name, what: "deployment name", max: 128)
    guard isSafeLabel(name) else { throw .invalid("deployment name '\(name)' may hold only letters, digits, '.', '_' and '-', starting with a letter or digit") }
  }

  static func validate(_ v: VersionRef) throws(ControlPlaneError) {
    guard isSafeLabel(v.model), v.model.utf8.count <= 128 else { throw .invalid("invalid registry model name '\(v.model.prefix(80))'") }
    guard isSafeLabel(v.version), v.version.utf8.count <= 64 else { throw .invalid("invalid registry version '\(v.version.prefix(80))'") }
  }

  static func isSafeLabel(_ s: String) -> Bool {
    func alnum(_ b: UInt8) -> Bool { (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) }
    guard let first = s.utf8.first, alnum(first), !s.contains("..") else { return false }
    return s.utf8.allSatisfy { alnum($0) || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }
  }
}

import Foundation
import Logging

/// Why a presented API key was refused. The server answers 401 for all of them alike; the case is for
/// logs (with the key id only), metrics and tests.
public enum KeyVerifyError: Error, Equatable, Sendable, CustomStringConvertible {
  case malformed, badChecksum, unknown, revoked, expired, badSecret

  public var description: String {
    switch self {
    case .malformed: "malformed API key"
    case .badChecksum: "API key checksum mismatch"
    case .unknown: "unknown API key"
    case .revoked: "API key revoked"
    case .expired: "API key expired"
    case .badSecret: "API key secret does not match"
    }
  }
}

/// What a new key should be.
public struct NewAPIKey: Sendable, Equatable {
  public var tenantID: String
  public var userID: String?
  public var name: String
  public var description: String
  public var role: Role
  public var models: [String]
  public var expiresAt: Date?
  public var limits: RateLimits
  public var budget: TokenBudget?

  public init(
    tenantID: String, userID: String? = nil, name: String, description: String = "", role: Role, models: [String] = [],
    expiresAt: Date? = nil, limits: RateLimits = .none, budget: TokenBudget? = nil
  ) {
    self.tenantID = tenantID
    self.userID = userID
    self.name = name
    self.description = description
    self.role = role
    self.models = models
    self.expiresAt = expiresAt
    self.limits = limits
    self.budget = budget
  }
}

/// A key just made or rotated: the only moment its plaintext exists outside the client.
public struct CreatedAPIKey: Sendable {
  public let record: APIKeyRecord
  public let token: APIKeyToken
  /// `hk_<id>_<secret>`: show it once, never log or store it.
  public var plaintext: String { token.token }
}

/// API keys: creation, verification on every request, revocation, rotation, listing.
public final class KeyService: Sendable {
  let store: any ControlStore
  let secret: ServerSecret
  let audit: AuditLog
  let clock: any TimeSource
  let logger: Logger
  /// Last-used times noted by `verify`, written in one batch by `flushLastUsed`.
  let pendingUse = Locked<(times: [String: Date], lastFlush: Date)>(([:], .distantPast))
  public let lastUsedFlushInterval: TimeInterval

  public init(
    store: any ControlStore, secret: ServerSecret, audit: AuditLog, clock: any TimeSource = SystemTime(),
    logger: Logger = Logger(label: "hearth.keys"), lastUsedFlushInterval: TimeInterval = 30
  ) {
    self.store = store
    self.secret = secret
    self.audit = audit
    self.clock = clock
    self.logger = logger
    self.lastUsedFlushInterval = lastUsedFlushInterval
    pendingUse.withLock { $0.lastFlush = clock.now() }
  }

  // MARK: verification (the request path)

  /// Checks a presented key (the `Authorization: Bearer` value, prefix stripped) and returns who it is.
  /// Malformed input fails before any lookup; the secret is compared as HMACs in constant time; revoked
  /// and expired are reported only to holders of the right secret.
  public func verify(_ presented: String) async throws -> Principal {
    let token: APIKeyToken
    do { token = try APIKeyToken.parse(presented) } catch {
      throw error == .malformed ? KeyVerifyError.malformed : KeyVerifyError.badChecksum
    }
    let mac = secret.mac(keyID: token.keyID, secret: token.secret)
    guard let (key, tenant) = try await store.credential(keyID: token.keyID) else {
      logger.info("API key refused", metadata: ["key_id": "\(token.keyID)", "reason": "unknown"])
      throw KeyVerifyError.unknown
    }
    guard safeCompare(mac, key.secretMAC) else {
      logger.info("API key refused", metadata: ["key_id": "\(key.id)", "reason": "bad secret"])
      throw KeyVerifyError.badSecret
    }
    let now = clock.now()
    if key.revoked {
      logger.info("API key refused", metadata: ["key_id": "\(key.id)", "reason": "revoked"])
      throw KeyVerifyError.revoked
    }
    if let e = key.expiresAt, now >= e {
      logger.info("API key refused", metadata: ["key_id": "\(key.id)", "reason": "expired"])
      throw KeyVerifyError.expired
    }
    await noteUse(key.id, now)
    return Self.principal(key, tenant)
  }

  static func principal(_ key: APIKeyRecord, _ tenant: Tenant) -> Principal {
    Principal(
      tenantID: key.tenantID, userID: key.userID, keyID: key.id, role: key.role, models: key.models,
      keyLimits: key.limits.over(tenant.policy.defaultKeyLimits), keyBudget: key.budget,
      tenantLimits: tenant.policy.tenantLimits, tenantBudget: tenant.policy.budget,
      storePrompts: tenant.policy.storePrompts, actor: "key:\(key.id)")
  }

  func noteUse(_ id: String, _ now: Date) async {
    let due = pendingUse.withLock { p -> Bool in
      p.times[id] = now
      return p.times.count >= 1024 || now.timeIntervalSince(p.lastFlush) >= lastUsedFlushInterval
    }
    if due { await flushLastUsed() }
  }

  /// Writes the noted last-used times in one transaction (also call it at shutdown).
  public func flushLastUsed() async {
    let batch = pendingUse.withLock { p -> [String: Date] in
      defer {
        p.times = [:]
        p.lastFlush = clock.now()
      }
      return p.times
    }
    do { try await store.touchKeys(batch) } catch {
      logger.warning("could not record API key last-used times: \(error)")
    }
  }

  // MARK: management

  /// Makes a key. The caller needs `keys.write` in the key's tenant and may not mint a role stronger
  /// than its own.
  public func create(_ spec: NewAPIKey, by principal: Principal) async throws -> CreatedAPIKey {
    try principal.require(.keysWrite, inTenant: spec.tenantID)
    guard spec.role.permissions.isSubset(of: principal.role.permissions) else {
      throw ControlPlaneError.invalid("cannot create a key with role \(spec.role.rawValue), which has permissions you lack")
    }
    try validateName(spec.name, what: "key name")
    if !spec.description.isEmpty { try validateName(spec.description, what: "key description", max: 2000) }
    for m in spec.models { try validateName(m, what: "model name") }
    try spec.limits.validate()
    if let b = spec.budget, b.tokens < 1 { throw ControlPlaneError.invalid("token budget must be positive") }
    let now = clock.now()
    if let e = spec.expiresAt, e <= now { throw ControlPlaneError.invalid("expiry is in the past") }
    guard try await store.tenant(id: spec.tenantID) != nil else { throw ControlPlaneError.notFound("tenant \(spec.tenantID)") }
    if let u = spec.userID, try await store.user(id: u, scope: .tenant(spec.tenantID)) == nil {
      throw ControlPlaneError.notFound("user \(u) in tenant \(spec.tenantID)")
    }
    let token = APIKeyToken.generate()
    let record = APIKeyRecord(
      id: token.keyID, tenantID: spec.tenantID, userID: spec.userID, name: spec.name, description: spec.description,
      role: spec.role, models: spec.models, expiresAt: spec.expiresAt, limits: spec.limits, budget: spec.budget,
      createdAt: now, secretMAC: secret.mac(keyID: token.keyID, secret: token.secret))
    try await commit([.insertKey(record)], principal, "key.create", record.id, before: nil, after: record)
    logger.info("API key created", metadata: ["key_id": "\(record.id)", "tenant": "\(record.tenantID)", "role": "\(record.role.rawValue)"])
    return CreatedAPIKey(record: record, token: token)
  }

  /// Stores a key whose plaintext was made elsewhere (bootstrap import for automation).
  func importKey(_ token: APIKeyToken, spec: NewAPIKey, by principal: Principal) async throws -> APIKeyRecord {
    let record = APIKeyRecord(
      id: token.keyID, tenantID: spec.tenantID, userID: spec.userID, name: spec.name, description: spec.description,
      role: spec.role, models: spec.models, expiresAt: spec.expiresAt, limits: spec.limits, budget: spec.budget,
      createdAt: clock.now(), secretMAC: secret.mac(keyID: token.keyID, secret: token.secret))
    try await commit([.insertKey(record)], principal, "key.import", record.id, before: nil, after: record)
    logger.info("API key imported", metadata: ["key_id": "\(record.id)", "tenant": "\(record.tenantID)"])
    return record
  }

  /// True when `token`'s secret is the one stored for its id.
  func matches(_ token: APIKeyToken) async throws -> Bool? {
    guard let (key, _) = try await store.credential(keyID: token.keyID) else { return nil }
    return safeCompare(secret.mac(keyID: token.keyID, secret: token.secret), key.secretMAC)
  }

  /// Keys of one tenant (or, for a system admin with `tenantID` nil, of all), pending last-used times merged in.
  public func list(tenantID: String? = nil, userID: String? = nil, by principal: Principal) async throws -> [APIKeyRecord] {
    let scope: TenantScope
    if let tenantID {
      try principal.require(.keysRead, inTenant: tenantID)
      scope = .tenant(tenantID)
    } else {
      try principal.require(.keysRead)
      scope = principal.scope
    }
    let pending = pendingUse.withLock { $0.times }
    return try await store.apiKeys(scope: scope, userID: userID).map { k in
      var k = k.redacted
      if let t = pending[k.id], t > (k.lastUsedAt ?? .distantPast) { k.lastUsedAt = t }
      return k
    }
  }

  /// One key, if the caller may see it (another tenant's key reads as not found).
  public func get(id: String, by principal: Principal) async throws -> APIKeyRecord {
    try principal.require(.keysRead)
    guard let k = try await store.apiKey(id: id, scope: principal.scope) else { throw ControlPlaneError.notFound("API key \(id)") }
    return k.redacted
  }

  /// Revokes a key at once (the next request with it fails). Revoking a revoked key changes nothing.
  @discardableResult
  public func revoke(id: String, by principal: Principal) async throws -> APIKeyRecord {
    try await change(id: id, action: "key.revoke", by: principal) { k, now in
      guard !k.revoked else { return false }
      k.revoked = true
      k.revokedAt = now
      return true
    }
  }

  /// Changes a key's settings (name, description, role, models, expiry, limits, budget). Id, tenant,
  /// secret and times are kept whatever `edit` does.
  @discardableResult
  public func update(id: String, by principal: Principal, _ edit: @Sendable (inout APIKeyRecord) -> Void) async throws -> APIKeyRecord {
    try await change(id: id, action: "key.update", by: principal) { k, _ in
      let old = k
      edit(&k)
      (k.id, k.tenantID, k.userID, k.secretMAC, k.createdAt) = (old.id, old.tenantID, old.userID, old.secretMAC, old.createdAt)
      (k.revoked, k.revokedAt, k.lastUsedAt) = (old.revoked, old.revokedAt, old.lastUsedAt)
      guard k.role.permissions.isSubset(of: principal.role.permissions) else {
        throw ControlPlaneError.invalid("cannot give a key role \(k.role.rawValue), which has permissions you lack")
      }
      try validateName(k.name, what: "key name")
      try k.limits.validate()
      return k != old
    }
  }

  /// Rotation keeps the key id (so audit, usage and limits carry on) and replaces the secret; the old
  /// secret stops working at once. Revoked keys cannot be rotated.
  public func rotate(id: String, by principal: Principal) async throws -> CreatedAPIKey {
    let token = APIKeyToken.generate(keyID: id)
    let mac = secret.mac(keyID: token.keyID, secret: token.secret)
    let record = try await change(id: id, action: "key.rotate", by: principal) { k, _ in
      guard !k.revoked else { throw ControlPlaneError.conflict("API key \(id) is revoked and cannot be rotated") }
      k.secretMAC = mac
      return true
    }
    return CreatedAPIKey(record: record, token: token)
  }

  /// Reads a key in the caller's scope, applies `edit`, and commits it with its audit record.
  func change(
    id: String, action: String, by principal: Principal, _ edit: (inout APIKeyRecord, Date) throws -> Bool
  ) async throws -> APIKeyRecord {
    try principal.require(.keysWrite)
    guard let before = try await store.apiKey(id: id, scope: principal.scope) else { throw ControlPlaneError.notFound("API key \(id)") }
    var after = before
    guard try edit(&after, clock.now()) else { return before.redacted }
    try await commit([.updateKey(after)], principal, action, id, before: before, after: after)
    logger.info("API key changed", metadata: ["key_id": "\(id)", "action": "\(action)"])
    return after.redacted
  }

  func commit(_ m: [ControlMutation], _ p: Principal, _ action: String, _ id: String, before: APIKeyRecord?, after: APIKeyRecord?) async throws {
    let draft = AuditDraft(
      time: clock.now(), kind: .admin, tenantID: after?.tenantID ?? before?.tenantID ?? p.tenantID, keyID: p.keyID,
      userID: p.userID, actor: p.actor, action: action, target: "key:\(id)",
      before: before.map { ControlJSON.encode($0.redacted) }, after: after.map { ControlJSON.encode($0.redacted) })
    let records = try await store.commit(m, audit: [draft])
    if let last = records.last { await audit.checkpointAfter(last) }
  }
}

import Foundation

/// A `ControlStore` in memory, with the same constraints as the SQLite one (unique names, references,
/// tenant-pinned updates, cascading user removal, one writer for the audit chain). For tests and
/// throwaway servers; it also keeps the protocols honest about what a second backend must do.
public final class InMemoryControlStore: ControlStore {
  struct State {
    var tenants: [String: Tenant] = [:]
    var users: [String: User] = [:]
    var keys: [String: APIKeyRecord] = [:]
    var records: [AuditRecord] = []
    var checkpoints: [AuditCheckpoint] = []
    var usage: [String: UsageRow] = [:]
    var settings: [String: String] = [:]
    var dataKeys: [DataKeyRecord] = []
    var deployments: [String: Deployment] = [:]
    var deploymentGeneration: Int64 = 0
    var deploymentRequests: [DeploymentRequest] = []
    var feedback: [Feedback] = []
  }

  let state = Locked(State())

  public init() {}

  // MARK: identities

  public func tenant(id: String) async throws -> Tenant? { state.withLock { $0.tenants[id] } }

  public func tenant(named name: String) async throws -> Tenant? { state.withLock { s in s.tenants.values.first { $0.name == name } } }

  public func tenants(scope: TenantScope) async throws -> [Tenant] {
    state.withLock { s in s.tenants.values.filter { scope.allows($0.id) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
  }

  public func user(id: String, scope: TenantScope) async throws -> User? {
    state.withLock { s in s.users[id].flatMap { scope.allows($0.tenantID) ? $0 : nil } }
  }

  public func user(named name: String, tenantID: String) async throws -> User? {
    state.withLock { s in s.users.values.first { $0.tenantID == tenantID && $0.name == name } }
  }

  public func users(scope: TenantScope) async throws -> [User] {
    state.withLock { s in s.users.values.filter { scope.allows($0.tenantID) }.sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) } }
  }

  public func apiKey(id: String, scope: TenantScope) async throws -> APIKeyRecord? {
    state.withLock { s in s.keys[id].flatMap { scope.allows($0.tenantID) ? $0 : nil } }
  }

  public func apiKeys(scope: TenantScope, userID: String?) async throws -> [APIKeyRecord] {
    state.withLock { s in
      s.keys.values.filter { scope.allows($0.tenantID) && (userID == nil || $0.userID == userID) }
        .sorted { ($0.createdAt, $0.id) < ($1.createdAt, $1.id) }
    }
  }

  public func credential(keyID: String) async throws -> (APIKeyRecord, Tenant)? {
    state.withLock { s in
      guard let k = s.keys[keyID], let t = s.tenants[k.tenantID] else { return nil }
      return (k, t)
    }
  }

  public func touchKeys(_ times: [String: Date]) async throws {
    state.withLock { s in
      for (id, t) in times where s.keys[id] != nil {
        let at = AuditCanonical.truncated(t)
        if (s.keys[id]!.lastUsedAt ?? .distantPast) < at { s.keys[id]!.lastUsedAt = at }
      }
    }
  }

  @discardableResult
  public func commit(_ mutations: [ControlMutation], audit: [AuditDraft]) async throws -> [AuditRecord] {
    try state.withLock { s in
      var next = s  // all or nothing: work on a copy
      for m in mutations { try Self.apply(m, &next) }
      let sealed = Self.append(audit, &next)
      s = next
      return sealed
    }
  }

  static func apply(_ m: ControlMutation, _ s: inout State) throws {
    switch m {
    case .insertTenant(let t):
      guard s.tenants[t.id] == nil, !s.tenants.values.contains(where: { $0.name == t.name }) else {
        throw ControlPlaneError.conflict("already exists (tenants.name)")
      }
      s.tenants[t.id] = t
    case .updateTenant(let t):
      guard s.tenants[t.id] != nil else { throw ControlPlaneError.notFound("tenant \(t.id)") }
      if s.tenants.values.contains(where: { $0.name == t.name && $0.id != t.id }) { throw ControlPlaneError.conflict("already exists (tenants.name)") }
      s.tenants[t.id]!.name = t.name
      s.tenants[t.id]!.policy = t.policy
    case .insertUser(let u):
      guard s.tenants[u.tenantID] != nil else { throw ControlPlaneError.notFound("referenced tenant or user") }
      guard s.users[u.id] == nil, !s.users.values.contains(where: { $0.tenantID == u.tenantID && $0.name == u.name }) else {
        throw ControlPlaneError.conflict("already exists (users.tenant_id, users.name)")
      }
      s.users[u.id] = u
    case .deleteUser(let id, let tenantID):
      guard s.users[id]?.tenantID == tenantID else { throw ControlPlaneError.notFound("user \(id)") }
      s.users[id] = nil
      s.keys = s.keys.filter { $0.value.userID != id }
    case .insertKey(let k):
      guard s.tenants[k.tenantID] != nil, k.userID.map({ s.users[$0] != nil }) ?? true else {
        throw ControlPlaneError.notFound("referenced tenant or user")
      }
      guard s.keys[k.id] == nil else { throw ControlPlaneError.conflict("already exists (api_keys.id)") }
      s.keys[k.id] = Self.stored(k)
    case .updateKey(let k):
      guard let old = s.keys[k.id], old.tenantID == k.tenantID else { throw ControlPlaneError.notFound("API key \(k.id)") }
      guard k.userID.map({ s.users[$0] != nil }) ?? true else { throw ControlPlaneError.notFound("referenced tenant or user") }
      var n = Self.stored(k)
      n.createdAt = old.createdAt
      s.keys[k.id] = n
    case .setSetting(let name, let value):
      s.settings[name] = value
    }
  }

  /// Times as the SQLite store keeps them (whole microseconds), so both stores read back alike.
  static func stored(_ k: APIKeyRecord) -> APIKeyRecord {
    var k = k
    k.createdAt = AuditCanonical.truncated(k.createdAt)
    k.expiresAt = k.expiresAt.map(AuditCanonical.truncated)
    k.revokedAt = k.revokedAt.map(AuditCanonical.truncated)
    k.lastUsedAt = k.lastUsedAt.map(AuditCanonical.truncated)
    return k
  }

  // MARK: audit

  static func append(_ drafts: [AuditDraft], _ s: inout State) -> [AuditRecord] {
    var out = [AuditRecord]()
    for d in drafts {
      let r = AuditRecord.seal(d, seq: (s.records.last?.seq ?? 0) + 1, prevHash: s.records.last?.hash ?? AuditRecord.genesisHash)
      s.records.append(r)
      out.append(r)
    }
    return out
  }

  public func appendAudit(_ drafts: [AuditDraft]) async throws -> [AuditRecord] { state.withLock { Self.append(drafts, &$0) } }

  public func auditHead() async throws -> AuditHead? {
    state.withLock { s in s.records.last.map { AuditHead(seq: $0.seq, hash: $0.hash, time: $0.draft.time) } }
  }

  public func auditRecords(_ q: AuditQuery) async throws -> [AuditRecord] {
    state.withLock { s in
      let matching = s.records.lazy.filter { r in
        let d = r.draft
        return r.seq > q.afterSeq && q.scope.allows(d.tenantID) && (q.since.map { d.time >= $0 } ?? true)
          && (q.until.map { d.time < $0 } ?? true) && (q.keyID.map { d.keyID == $0 } ?? true)
          && (q.model.map { d.model == $0 } ?? true) && (q.kind.map { d.kind == $0 } ?? true)
      }
      return Array(matching.prefix(max(0, q.limit)))
    }
  }

  public func lastAuditCheckpoint() async throws -> AuditCheckpoint? { state.withLock { $0.checkpoints.last } }

  public func auditCheckpoints(afterSeq: Int64, limit: Int) async throws -> [AuditCheckpoint] {
    state.withLock { s in Array(s.checkpoints.filter { $0.seq > afterSeq }.prefix(limit)) }
  }

  public func appendCheckpoint(_ build: @Sendable (AuditHead?, AuditCheckpoint?) throws -> AuditCheckpoint?) async throws -> AuditCheckpoint? {
    try state.withLock { s in
      let head = s.records.last.map { AuditHead(seq: $0.seq, hash: $0.hash, time: $0.draft.time) }
      guard let c = try build(head, s.checkpoints.last) else { return nil }
      s.checkpoints.append(c)
      return c
    }
  }

  // MARK: usage, data keys, settings

  public func addUsage(_ u: UsageDelta) async throws {
    state.withLock { s in
      let id = [u.tenantID, u.keyID, u.model, u.day].joined(separator: "\u{0}")
      var row = s.usage[id] ?? UsageRow(tenantID: u.tenantID, keyID: u.keyID, model: u.model, period: u.day, promptTokens: 0, completionTokens: 0, requests: 0)
      row.promptTokens += u.promptTokens
      row.completionTokens += u.completionTokens
      row.requests += u.requests
      s.usage[id] = row
    }
  }

  public func usage(_ q: UsageQuery) async throws -> [UsageRow] {
    state.withLock { s in
      var sums = [String: UsageRow]()
      for r in s.usage.values {
        guard q.scope.allows(r.tenantID), q.keyID.map({ r.keyID == $0 }) ?? true, q.model.map({ r.model == $0 }) ?? true,
          q.fromDay.map({ r.period >= $0 }) ?? true, q.toDay.map({ r.period <= $0 }) ?? true
        else { continue }
        let period =
          switch q.grouping {
          case .day: r.period
          case .month: String(r.period.prefix(7))
          case .total: "total"
          }
        let id = [r.tenantID, r.keyID, r.model, period].joined(separator: "\u{0}")
        var sum = sums[id] ?? UsageRow(tenantID: r.tenantID, keyID: r.keyID, model: r.model, period: period, promptTokens: 0, completionTokens: 0, requests: 0)
        sum.promptTokens += r.promptTokens
        sum.completionTokens += r.completionTokens
        sum.requests += r.requests
        sums[id] = sum
      }
      return sums.values.sorted { ($0.period, $0.tenantID, $0.keyID, $0.model) < ($1.period, $1.tenantID, $1.keyID, $1.model) }
    }
  }

  public func tokensUsed(tenantID: String, keyID: String?, fromDay: String, toDay: String) async throws -> Int {
    state.withLock { s in
      s.usage.values.filter { $0.tenantID == tenantID && (keyID == nil || $0.keyID == keyID) && $0.period >= fromDay && $0.period <= toDay }
        .map(\.totalTokens).reduce(0, +)
    }
  }

  public func dataKeys() async throws -> [DataKeyRecord] { state.withLock { $0.dataKeys } }

  public func insertDataKey(_ key: DataKeyRecord) async throws {
    try state.withLock { s in
      guard !s.dataKeys.contains(where: { $0.id == key.id }) else { throw ControlPlaneError.conflict("already exists (data_keys.id)") }
      var k = key
      k.createdAt = AuditCanonical.truncated(k.createdAt)
      s.dataKeys.append(k)
    }
  }

  public func replaceDataKeys(_ new: [DataKeyRecord], ifUnchanged old: [DataKeyRecord]) async throws -> Bool {
    state.withLock { s in
      guard s.dataKeys == old else { return false }
      for n in new {
        guard let i = s.dataKeys.firstIndex(where: { $0.id == n.id }) else { continue }
        s.dataKeys[i].masterKeyID = n.masterKeyID
        s.dataKeys[i].version = n.version
        s.dataKeys[i].wrapped = n.wrapped
      }
      return true
    }
  }

  public func setting(_ name: String) async throws -> String? { state.withLock { $0.settings[name] } }
}

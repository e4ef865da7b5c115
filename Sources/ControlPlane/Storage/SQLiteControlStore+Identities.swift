import Foundation
import GRDB

/// JSON for policy columns and audit snapshots: sorted keys, ISO 8601 dates, so equal values give equal text.
enum ControlJSON {
  static func encode<T: Encodable>(_ value: T) -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    e.dataEncodingStrategy = .base64
    // Encoding plain Codable structs of strings, numbers and dates cannot fail.
    return String(decoding: (try? e.encode(value)) ?? Data("null".utf8), as: UTF8.self)
  }

  /// Decoded values by type and exact text. Key verification decodes the same few policy and limit
  /// texts on every request, and Foundation's decoder costs tens of microseconds each time; equal text
  /// always decodes to an equal value, so the memo is never stale.
  static let memo = Locked<[String: any Sendable]>([:])

  static func decode<T: Decodable & Sendable>(_ type: T.Type, _ text: String) throws -> T {
    let key = "\(T.self)\u{0}\(text)"
    if let v = memo.withLock({ $0[key] }) as? T { return v }
    let d = JSONDecoder()
    d.dateDecodingStrategy = .iso8601
    d.dataDecodingStrategy = .base64
    let value: T
    do { value = try d.decode(type, from: Data(text.utf8)) } catch {
      throw ControlPlaneError.storage("undecodable \(T.self) column: \(error)")
    }
    memo.withLock { m in
      if m.count >= 4096 { m.removeAll(keepingCapacity: true) }
      m[key] = value
    }
    return value
  }
}

extension SQLiteControlStore {
  static func us(_ d: Date) -> Int64 { AuditCanonical.micros(d) }
  static func date(_ us: Int64?) -> Date? { us.map(AuditCanonical.date(micros:)) }

  static func scopeClause(_ scope: TenantScope, column: String = "tenant_id") -> (String, [(any DatabaseValueConvertible)?]) {
    switch scope {
    case .all: ("1 = 1", [])
    case .tenant(let t): ("\(column) = ?", [t])
    }
  }

  // MARK: reads

  public func tenant(id: String) async throws -> Tenant? {
    try await run { try await self.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM tenants WHERE id = ?", arguments: [id]).map(Self.tenant) } }
  }

  public func tenant(named name: String) async throws -> Tenant? {
    try await run { try await self.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM tenants WHERE name = ?", arguments: [name]).map(Self.tenant) } }
  }

  public func tenants(scope: TenantScope) async throws -> [Tenant] {
    let (clause, args) = Self.scopeClause(scope, column: "id")
    let arguments = StatementArguments(args)
    return try await run {
      try await self.pool.read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM tenants WHERE \(clause) ORDER BY created_us, id", arguments: arguments).map(Self.tenant)
      }
    }
  }

  public func user(id: String, scope: TenantScope) async throws -> User? {
    let (clause, args) = Self.scopeClause(scope)
    let arguments = StatementArguments([id] + args)
    return try await run {
      try await self.pool.read { db in
        try Row.fetchOne(db, sql: "SELECT * FROM users WHERE id = ? AND \(clause)", arguments: arguments).map(Self.user)
      }
    }
  }

  public func user(named name: String, tenantID: String) async throws -> User? {
    try await run {
      try await self.pool.read { db in
        try Row.fetchOne(db, sql: "SELECT * FROM users WHERE tenant_id = ? AND name = ?", arguments: [tenantID, name]).map(Self.user)
      }
    }
  }

  public func users(scope: TenantScope) async throws -> [User] {
    let (clause, args) = Self.scopeClause(scope)
    let arguments = StatementArguments(args)
    return try await run {
      try await self.pool.read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM users WHERE \(clause) ORDER BY created_us, id", arguments: arguments).map(Self.user)
      }
    }
  }

  public func apiKey(id: String, scope: TenantScope) async throws -> APIKeyRecord? {
    let (clause, args) = Self.scopeClause(scope)
    let arguments = StatementArguments([id] + args)
    return try await run {
      try await self.pool.read { db in
        try Row.fetchOne(db, sql: "SELECT * FROM api_keys WHERE id = ? AND \(clause)", arguments: arguments).map(Self.key)
      }
    }
  }

  public func apiKeys(scope: TenantScope, userID: String?) async throws -> [APIKeyRecord] {
    var (clause, args) = Self.scopeClause(scope)
    if let userID {
      clause += " AND user_id = ?"
      args.append(userID)
    }
    let sql = "SELECT * FROM api_keys WHERE \(clause) ORDER BY created_us, id"
    let arguments = StatementArguments(args)
    return try await run { try await self.pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.key) } }
  }

  /// Runs on every authenticated request, so it reads synchronously on the caller's thread: a primary-key
  /// lookup in WAL mode takes microseconds and never waits for a writer, while GRDB's async read costs
  /// two thread hand-offs (about 0.3 ms here, most of an authenticated request's latency). Reading the
  /// database each time, instead of caching, keeps revocation immediate even from another process.
  public func credential(keyID: String) async throws -> (APIKeyRecord, Tenant)? {
    try await run {
      try self.pool.read { db -> (APIKeyRecord, Tenant)? in
        let sql = """
          SELECT k.*, t.name AS t_name, t.policy AS t_policy, t.created_us AS t_created_us
          FROM api_keys k JOIN tenants t ON t.id = k.tenant_id WHERE k.id = ?
          """
        guard let r = try Row.fetchOne(db.cachedStatement(sql: sql), arguments: [keyID]) else { return nil }
        let tenant = Tenant(
          id: r["tenant_id"], name: r["t_name"], policy: try ControlJSON.decode(TenantPolicy.self, r["t_policy"]),
          createdAt: Self.date(r["t_created_us"])!)
        return (try Self.key(r), tenant)
      }
    }
  }

  public func touchKeys(_ times: [String: Date]) async throws {
    guard !times.isEmpty else { return }
    try await run {
      try await self.pool.write { db in
        let st = try db.cachedStatement(sql: "UPDATE api_keys SET last_used_us = max(coalesce(last_used_us, 0), ?) WHERE id = ?")
        for (id, t) in times { try st.execute(arguments: [Self.us(t), id]) }
      }
    }
  }

  // MARK: writes

  static func apply(_ m: ControlMutation, _ db: Database) throws {
    switch m {
    case .insertTenant(let t):
      try db.execute(
        sql: "INSERT INTO tenants (id, name, policy, created_us) VALUES (?, ?, ?, ?)",
        arguments: [t.id, t.name, ControlJSON.encode(t.policy), us(t.createdAt)])
    case .updateTenant(let t):
      try db.execute(sql: "UPDATE tenants SET name = ?, policy = ? WHERE id = ?", arguments: [t.name, ControlJSON.encode(t.policy), t.id])
      guard db.changesCount == 1 else { throw ControlPlaneError.notFound("tenant \(t.id)") }
    case .insertUser(let u):
      try db.execute(
        sql: "INSERT INTO users (id, tenant_id, name, role, source, created_us) VALUES (?, ?, ?, ?, ?, ?)",
        arguments: [u.id, u.tenantID, u.name, u.role.rawValue, u.source.rawValue, us(u.createdAt)])
    case .deleteUser(let id, let tenantID):
      try db.execute(sql: "DELETE FROM users WHERE id = ? AND tenant_id = ?", arguments: [id, tenantID])
      guard db.changesCount == 1 else { throw ControlPlaneError.notFound("user \(id)") }
    case .insertKey(let k):
      try db.execute(
        sql: """
          INSERT INTO api_keys (id, tenant_id, user_id, name, description, role, models, expires_us, limits, budget,
            revoked, revoked_us, last_used_us, created_us, secret_mac) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: keyArguments(k))
    case .updateKey(let k):
      // The key stays in its tenant: the WHERE clause pins both id and tenant.
      try db.execute(
        sql: """
          UPDATE api_keys SET user_id = ?, name = ?, description = ?, role = ?, models = ?, expires_us = ?, limits = ?,
            budget = ?, revoked = ?, revoked_us = ?, last_used_us = ?, secret_mac = ? WHERE id = ? AND tenant_id = ?
          """,
        arguments: [
          k.userID, k.name, k.description, k.role.rawValue, ControlJSON.encode(k.models), k.expiresAt.map(us),
          ControlJSON.encode(k.limits), k.budget.map(ControlJSON.encode), k.revoked, k.revokedAt.map(us),
          k.lastUsedAt.map(us), k.secretMAC, k.id, k.tenantID,
        ])
      guard db.changesCount == 1 else { throw ControlPlaneError.notFound("API key \(k.id)") }
    case .setSetting(let name, let value):
      if let value {
        try db.execute(sql: "INSERT INTO settings (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value", arguments: [name, value])
      } else {
        try db.execute(sql: "DELETE FROM settings WHERE name = ?", arguments: [name])
      }
    }
  }

  static func keyArguments(_ k: APIKeyRecord) -> StatementArguments {
    [
      k.id, k.tenantID, k.userID, k.name, k.description, k.role.rawValue, ControlJSON.encode(k.models), k.expiresAt.map(us),
      ControlJSON.encode(k.limits), k.budget.map(ControlJSON.encode), k.revoked, k.revokedAt.map(us), k.lastUsedAt.map(us),
      us(k.createdAt), k.secretMAC,
    ]
  }

  // MARK: row decoding

  static func tenant(_ r: Row) throws -> Tenant {
    Tenant(id: r["id"], name: r["name"], policy: try ControlJSON.decode(TenantPolicy.self, r["policy"]), createdAt: date(r["created_us"])!)
  }

  static func user(_ r: Row) throws -> User {
    guard let role = Role(rawValue: r["role"]), let source = UserSource(rawValue: r["source"]) else {
      throw ControlPlaneError.storage("user \(r["id"] as String? ?? "?") has an unknown role or source")
    }
    return User(id: r["id"], tenantID: r["tenant_id"], name: r["name"], role: role, source: source, createdAt: date(r["created_us"])!)
  }

  static func key(_ r: Row) throws -> APIKeyRecord {
    guard let role = Role(rawValue: r["role"]) else { throw ControlPlaneError.storage("API key \(r["id"] as String? ?? "?") has an unknown role") }
    let budget: String? = r["budget"]
    return APIKeyRecord(
      id: r["id"], tenantID: r["tenant_id"], userID: r["user_id"], name: r["name"], description: r["description"], role: role,
      models: try ControlJSON.decode([String].self, r["models"]), expiresAt: date(r["expires_us"]),
      limits: try ControlJSON.decode(RateLimits.self, r["limits"]), budget: try budget.map { try ControlJSON.decode(TokenBudget.self, $0) },
      revoked: r["revoked"], revokedAt: date(r["revoked_us"]), lastUsedAt: date(r["last_used_us"]),
      createdAt: date(r["created_us"])!, secretMAC: r["secret_mac"])
  }
}

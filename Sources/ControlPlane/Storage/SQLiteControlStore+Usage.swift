import Foundation
import GRDB

extension SQLiteControlStore {
  public func addUsage(_ u: UsageDelta) async throws {
    try await run {
      try await self.pool.write { db in
        try db.cachedStatement(
          sql: """
            INSERT INTO usage (tenant_id, key_id, model, day, prompt_tokens, completion_tokens, requests) VALUES (?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (tenant_id, key_id, model, day) DO UPDATE SET
              prompt_tokens = prompt_tokens + excluded.prompt_tokens,
              completion_tokens = completion_tokens + excluded.completion_tokens,
              requests = requests + excluded.requests
            """
        ).execute(arguments: [u.tenantID, u.keyID, u.model, u.day, u.promptTokens, u.completionTokens, u.requests])
      }
    }
  }

  public func usage(_ q: UsageQuery) async throws -> [UsageRow] {
    var (clause, args) = Self.scopeClause(q.scope)
    if let k = q.keyID {
      clause += " AND key_id = ?"
      args.append(k)
    }
    if let m = q.model {
      clause += " AND model = ?"
      args.append(m)
    }
    if let f = q.fromDay {
      clause += " AND day >= ?"
      args.append(f)
    }
    if let t = q.toDay {
      clause += " AND day <= ?"
      args.append(t)
    }
    let period =
      switch q.grouping {
      case .day: "day"
      case .month: "substr(day, 1, 7)"
      case .total: "'total'"
      }
    let sql = """
      SELECT tenant_id, key_id, model, \(period) AS period, sum(prompt_tokens) AS p, sum(completion_tokens) AS c, sum(requests) AS n
      FROM usage WHERE \(clause) GROUP BY tenant_id, key_id, model, period ORDER BY period, tenant_id, key_id, model
      """
    let arguments = StatementArguments(args)
    return try await run {
      try await self.pool.read { db in
        try Row.fetchAll(db, sql: sql, arguments: arguments).map { r in
          UsageRow(tenantID: r["tenant_id"], keyID: r["key_id"], model: r["model"], period: r["period"], promptTokens: r["p"], completionTokens: r["c"], requests: r["n"])
        }
      }
    }
  }

  public func tokensUsed(tenantID: String, keyID: String?, fromDay: String, toDay: String) async throws -> Int {
    var sql = "SELECT coalesce(sum(prompt_tokens + completion_tokens), 0) FROM usage WHERE tenant_id = ? AND day >= ? AND day <= ?"
    var args: [(any DatabaseValueConvertible)?] = [tenantID, fromDay, toDay]
    if let keyID {
      sql += " AND key_id = ?"
      args.append(keyID)
    }
    let (query, arguments) = (sql, StatementArguments(args))
    return try await run { try await self.pool.read { db in try Int.fetchOne(db, sql: query, arguments: arguments) ?? 0 } }
  }

  public func dataKeys() async throws -> [DataKeyRecord] {
    try await run {
      try await self.pool.read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM data_keys ORDER BY created_us, id").map(Self.dataKey)
      }
    }
  }

  public func insertDataKey(_ k: DataKeyRecord) async throws {
    try await run {
      try await self.pool.write { db in
        try db.execute(
          sql: "INSERT INTO data_keys (id, master_key_id, version, wrapped, created_us) VALUES (?, ?, ?, ?, ?)",
          arguments: [k.id, k.masterKeyID, k.version, k.wrapped, Self.us(k.createdAt)])
      }
    }
  }

  public func replaceDataKeys(_ new: [DataKeyRecord], ifUnchanged old: [DataKeyRecord]) async throws -> Bool {
    try await run {
      try await self.pool.write { db in
        let current = try Row.fetchAll(db, sql: "SELECT * FROM data_keys ORDER BY created_us, id").map(Self.dataKey)
        guard current == old else { return false }
        for n in new {
          try db.execute(
            sql: "UPDATE data_keys SET master_key_id = ?, version = ?, wrapped = ? WHERE id = ?",
            arguments: [n.masterKeyID, n.version, n.wrapped, n.id])
        }
        return true
      }
    }
  }

  static func dataKey(_ r: Row) -> DataKeyRecord {
    DataKeyRecord(id: r["id"], masterKeyID: r["master_key_id"], version: r["version"], wrapped: r["wrapped"], createdAt: date(r["created_us"])!)
  }
}

import Foundation
import GRDB

extension SQLiteControlStore {
  public func appendAudit(_ drafts: [AuditDraft]) async throws -> [AuditRecord] {
    guard !drafts.isEmpty else { return [] }
    return try await run { try await self.pool.write { db in try Self.append(drafts, db) } }
  }

  /// Seals and inserts `drafts` after the current head. Runs inside the writer's transaction, so the
  /// head read here is the head the insert extends: the chain cannot fork.
  static func append(_ drafts: [AuditDraft], _ db: Database) throws -> [AuditRecord] {
    guard !drafts.isEmpty else { return [] }
    let head = try headRow(db)
    var seq = head?.seq ?? 0
    var prev = head?.hash ?? AuditRecord.genesisHash
    let insert = try db.cachedStatement(
      sql: """
        INSERT INTO audit_records (seq, time_us, kind, tenant_id, key_id, user_id, actor, action, route, model,
          model_version, status, prompt_tokens, completion_tokens, latency_us, client, prompt_mac, prompt_capture,
          target, before, after, detail, prev_hash, hash)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
        """)
    var out = [AuditRecord]()
    out.reserveCapacity(drafts.count)
    for d in drafts {
      seq += 1
      let r = AuditRecord.seal(d, seq: seq, prevHash: prev)
      let x = r.draft
      try insert.execute(arguments: [
        r.seq, us(x.time), x.kind.rawValue, x.tenantID, x.keyID, x.userID, x.actor, x.action, x.route, x.model,
        x.modelVersion, x.status, x.promptTokens, x.completionTokens, x.latencyMicros, x.client, x.promptMAC,
        x.promptCapture, x.target, x.before, x.after, x.detail, r.prevHash, r.hash,
      ])
      prev = r.hash
      out.append(r)
    }
    return out
  }

  static func headRow(_ db: Database) throws -> AuditHead? {
    guard let r = try Row.fetchOne(db.cachedStatement(sql: "SELECT seq, hash, time_us FROM audit_records ORDER BY seq DESC LIMIT 1"))
    else { return nil }
    return AuditHead(seq: r["seq"], hash: r["hash"], time: date(r["time_us"])!)
  }

  public func auditHead() async throws -> AuditHead? {
    try await run { try await self.pool.read { db in try Self.headRow(db) } }
  }

  public func auditRecords(_ q: AuditQuery) async throws -> [AuditRecord] {
    var (clause, args) = Self.scopeClause(q.scope)
    clause += " AND seq > ?"
    args.append(q.afterSeq)
    if let s = q.since {
      clause += " AND time_us >= ?"
      args.append(Self.us(s))
    }
    if let u = q.until {
      clause += " AND time_us < ?"
      args.append(Self.us(u))
    }
    if let k = q.keyID {
      clause += " AND key_id = ?"
      args.append(k)
    }
    if let m = q.model {
      clause += " AND model = ?"
      args.append(m)
    }
    if let kind = q.kind {
      clause += " AND kind = ?"
      args.append(kind.rawValue)
    }
    args.append(max(0, q.limit))
    let sql = "SELECT * FROM audit_records WHERE \(clause) ORDER BY seq LIMIT ?"
    let arguments = StatementArguments(args)
    return try await run { try await self.pool.read { db in try Row.fetchAll(db, sql: sql, arguments: arguments).map(Self.record) } }
  }

  public func lastAuditCheckpoint() async throws -> AuditCheckpoint? {
    try await run {
      try await self.pool.read { db in try Row.fetchOne(db, sql: "SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").map(Self.checkpoint) }
    }
  }

  public func auditCheckpoints(afterSeq: Int64, limit: Int) async throws -> [AuditCheckpoint] {
    try await run {
      try await self.pool.read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM audit_checkpoints WHERE seq > ? ORDER BY seq LIMIT ?", arguments: [afterSeq, limit]).map(Self.checkpoint)
      }
    }
  }

  public func appendCheckpoint(_ build: @Sendable (AuditHead?, AuditCheckpoint?) throws -> AuditCheckpoint?) async throws -> AuditCheckpoint? {
    try await run {
      try await self.pool.write { db in
        let last = try Row.fetchOne(db, sql: "SELECT * FROM audit_checkpoints ORDER BY seq DESC LIMIT 1").map(Self.checkpoint)
        guard let c = try build(try Self.headRow(db), last) else { return nil }
        try db.execute(
          sql: """
            INSERT INTO audit_checkpoints (seq, record_seq, record_hash, time_us, prev_signature, signing_key_id, signature)
            VALUES (?, ?, ?, ?, ?, ?, ?)
            """,
          arguments: [c.seq, c.recordSeq, c.recordHash, Self.us(c.time), c.prevSignature, c.signingKeyID, c.signature])
        return c
      }
    }
  }

  static func record(_ r: Row) throws -> AuditRecord {
    let kindText: String = r["kind"]
    guard let kind = AuditKind(rawValue: kindText) else {
      // An unknown kind can only come from tampering; keep the text so the hash check reports it.
      return AuditRecord(seq: r["seq"], draft: draft(r, kind: .admin, unknownKind: kindText), prevHash: r["prev_hash"], hash: r["hash"])
    }
    return AuditRecord(seq: r["seq"], draft: draft(r, kind: kind, unknownKind: nil), prevHash: r["prev_hash"], hash: r["hash"])
  }

  static func draft(_ r: Row, kind: AuditKind, unknownKind: String?) -> AuditDraft {
    AuditDraft(
      time: date(r["time_us"])!, kind: kind, tenantID: r["tenant_id"], keyID: r["key_id"], userID: r["user_id"],
      actor: r["actor"], action: r["action"], route: r["route"], model: r["model"], modelVersion: r["model_version"],
      status: r["status"], promptTokens: r["prompt_tokens"], completionTokens: r["completion_tokens"],
      latencyMicros: r["latency_us"], client: r["client"], promptMAC: r["prompt_mac"], promptCapture: r["prompt_capture"],
      target: r["target"], before: r["before"], after: r["after"],
      detail: unknownKind.map { "unknown kind \($0)" } ?? r["detail"])
  }

  static func checkpoint(_ r: Row) throws -> AuditCheckpoint {
    AuditCheckpoint(
      seq: r["seq"], recordSeq: r["record_seq"], recordHash: r["record_hash"], time: date(r["time_us"])!,
      prevSignature: r["prev_signature"], signingKeyID: r["signing_key_id"], signature: r["signature"])
  }
}

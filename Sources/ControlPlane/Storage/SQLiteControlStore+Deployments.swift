import Foundation
import GRDB

extension SQLiteControlStore {
  /// Migration v2. Deployment states are JSON columns (they are read and written whole); the request
  /// log and feedback are plain rows so reports can filter by deployment and time.
  static let schemaV2Deployments = """
    CREATE TABLE deployments (
      id TEXT PRIMARY KEY NOT NULL,
      tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
      name TEXT NOT NULL,
      state TEXT NOT NULL,
      previous TEXT,
      guards TEXT,
      revision INTEGER NOT NULL,
      created_us INTEGER NOT NULL,
      updated_us INTEGER NOT NULL,
      updated_by TEXT NOT NULL,
      UNIQUE (tenant_id, name)
    );
    CREATE TABLE deployment_generation (
      id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
      value INTEGER NOT NULL
    );
    INSERT INTO deployment_generation (id, value) VALUES (1, 0);
    CREATE TABLE deployment_requests (
      response_id TEXT NOT NULL,
      tenant_id TEXT NOT NULL,
      deployment TEXT NOT NULL,
      model TEXT NOT NULL,
      version TEXT NOT NULL,
      variant TEXT NOT NULL,
      status INTEGER NOT NULL,
      latency_us INTEGER NOT NULL,
      prompt_tokens INTEGER NOT NULL,
      completion_tokens INTEGER NOT NULL,
      agreed INTEGER,
      time_us INTEGER NOT NULL,
      PRIMARY KEY (response_id, variant)
    );
    CREATE INDEX deployment_requests_time ON deployment_requests(tenant_id, deployment, time_us);
    CREATE TABLE deployment_feedback (
      response_id TEXT PRIMARY KEY NOT NULL,
      tenant_id TEXT NOT NULL,
      deployment TEXT NOT NULL,
      model TEXT NOT NULL,
      version TEXT NOT NULL,
      variant TEXT NOT NULL,
      score REAL NOT NULL,
      comment TEXT NOT NULL,
      actor TEXT NOT NULL,
      time_us INTEGER NOT NULL
    );
    CREATE INDEX deployment_feedback_deployment ON deployment_feedback(tenant_id, deployment, time_us);
    """

  public func deployment(named name: String, tenantID: String) async throws -> Deployment? {
    try await run {
      try await self.pool.read { db in
        try Row.fetchOne(db, sql: "SELECT * FROM deployments WHERE tenant_id = ? AND name = ?", arguments: [tenantID, name]).map(Self.deployment)
      }
    }
  }

  public func deployments(scope: TenantScope) async throws -> [Deployment] {
    let (clause, args) = Self.scopeClause(scope)
    let arguments = StatementArguments(args)
    return try await run {
      try await self.pool.read { db in
        try Row.fetchAll(db, sql: "SELECT * FROM deployments WHERE \(clause) ORDER BY tenant_id, name", arguments: arguments).map(Self.deployment)
      }
    }
  }

  /// Read synchronously: the server polls it every 200 ms and a one-row primary-key read in WAL mode
  /// costs microseconds, less than the thread hand-offs of an async read.
  public func deploymentGeneration() async throws -> Int64 {
    try await run { try self.pool.read { db in try Int64.fetchOne(db, sql: "SELECT value FROM deployment_generation WHERE id = 1") ?? 0 } }
  }

  @discardableResult
  public func commit(_ mutations: [DeploymentMutation], audit: [AuditDraft]) async throws -> [AuditRecord] {
    try await run {
      try await self.pool.write { db in
        for m in mutations { try Self.apply(m, db) }
        if !mutations.isEmpty { try db.execute(sql: "UPDATE deployment_generation SET value = value + 1 WHERE id = 1") }
        return try Self.append(audit, db)
      }
    }
  }

  static func apply(_ m: DeploymentMutation, _ db: Database) throws {
    switch m {
    case .insert(let d):
      try db.execute(
        sql: """
          INSERT INTO deployments (id, tenant_id, name, state, previous, guards, revision, created_us, updated_us, updated_by)
          VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
          """,
        arguments: [
          d.id, d.tenantID, d.name, ControlJSON.encode(d.state), d.previous.map(ControlJSON.encode), d.guards.map(ControlJSON.encode),
          d.revision, us(d.createdAt), us(d.updatedAt), d.updatedBy,
        ])
    case .update(let d, let expected):
      // Pinned to id, tenant and the revision the caller read: a concurrent change makes this a conflict.
      try db.execute(
        sql: """
          UPDATE deployments SET state = ?, previous = ?, guards = ?, revision = ?, updated_us = ?, updated_by = ?
          WHERE id = ? AND tenant_id = ? AND revision = ?
          """,
        arguments: [
          ControlJSON.encode(d.state), d.previous.map(ControlJSON.encode), d.guards.map(ControlJSON.encode), d.revision, us(d.updatedAt),
          d.updatedBy, d.id, d.tenantID, expected,
        ])
      guard db.changesCount == 1 else {
        if try Bool.fetchOne(db, sql: "SELECT 1 FROM deployments WHERE id = ? AND tenant_id = ?", arguments: [d.id, d.tenantID]) == true {
          throw ControlPlaneError.conflict("deployment \(d.name) was changed meanwhile; retry")
        }
        throw ControlPlaneError.notFound("deployment \(d.name)")
      }
    }
  }

  public func recordDeploymentRequests(_ rows: [DeploymentRequest]) async throws {
    guard !rows.isEmpty else { return }
    try await run {
      try await self.pool.write { db in
        let st = try db.cachedStatement(
          sql: """
            INSERT OR REPLACE INTO deployment_requests (response_id, tenant_id, deployment, model, version, variant, status, latency_us,
              prompt_tokens, completion_tokens, agreed, time_us) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """)
        for r in rows {
          try st.execute(arguments: [
            r.responseID, r.tenantID, r.deployment, r.version.model, r.version.version, r.variant.rawValue, r.status, r.latencyMicros,
            r.promptTokens, r.completionTokens, r.agreed, Self.us(r.time),
          ])
        }
      }
    }
  }

  public func deploymentRequest(responseID: String, tenantID: String) async throws -> DeploymentRequest? {
    try await run {
      try await self.pool.read { db in
        try Row.fetchOne(
          db, sql: "SELECT * FROM deployment_requests WHERE response_id = ? AND tenant_id = ? AND variant != 'shadow'",
          arguments: [responseID, tenantID]
        ).map(Self.deploymentRequest)
      }
    }
  }

  public func deploymentRequests(tenantID: String, deployment: String, since: Date?) async throws -> [DeploymentRequest] {
    try await run {
      try await self.pool.read { db in
        try Row.fetchAll(
          db, sql: "SELECT * FROM deployment_requests WHERE tenant_id = ? AND deployment = ? AND time_us >= ? ORDER BY time_us, response_id",
          arguments: [tenantID, deployment, since.map(Self.us) ?? Int64.min]
        ).map(Self.deploymentRequest)
      }
    }
  }

  public func insertFeedback(_ f: Feedback) async throws {
    try await run {
      try await self.pool.write { db in
        try db.execute(
          sql: """
            INSERT INTO deployment_feedback (response_id, tenant_id, deployment, model, version, variant, score, comment, actor, time_us)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
          arguments: [
            f.responseID, f.tenantID, f.deployment, f.version.model, f.version.version, f.variant.rawValue, f.score, f.comment, f.actor,
            Self.us(f.time),
          ])
      }
    }
  }

  public func feedback(tenantID: String, deployment: String, since: Date?) async throws -> [Feedback] {
    try await run {
      try await self.pool.read { db in
        try Row.fetchAll(
          db, sql: "SELECT * FROM deployment_feedback WHERE tenant_id = ? AND deployment = ? AND time_us >= ? ORDER BY time_us, response_id",
          arguments: [tenantID, deployment, since.map(Self.us) ?? Int64.min]
        ).map(Self.feedback)
      }
    }
  }

  // MARK: row decoding

  static func deployment(_ r: Row) throws -> Deployment {
    let previous: String? = r["previous"]
    let guards: String? = r["guards"]
    return Deployment(
      id: r["id"], tenantID: r["tenant_id"], name: r["name"], state: try ControlJSON.decode(DeploymentState.self, r["state"]),
      previous: try previous.map { try ControlJSON.decode(DeploymentState.self, $0) }, guards: try guards.map { try ControlJSON.decode(GuardRules.self, $0) },
      revision: r["revision"], createdAt: date(r["created_us"])!, updatedAt: date(r["updated_us"])!, updatedBy: r["updated_by"])
  }

  static func variant(_ r: Row) throws -> Variant {
    guard let v = Variant(rawValue: r["variant"]) else { throw ControlPlaneError.storage("unknown deployment variant \(r["variant"] as String? ?? "?")") }
    return v
  }

  static func deploymentRequest(_ r: Row) throws -> DeploymentRequest {
    DeploymentRequest(
      responseID: r["response_id"], tenantID: r["tenant_id"], deployment: r["deployment"], version: VersionRef(model: r["model"], version: r["version"]),
      variant: try variant(r), status: r["status"], latencyMicros: r["latency_us"], promptTokens: r["prompt_tokens"],
      completionTokens: r["completion_tokens"], agreed: r["agreed"], time: date(r["time_us"])!)
  }

  static func feedback(_ r: Row) throws -> Feedback {
    Feedback(
      responseID: r["response_id"], tenantID: r["tenant_id"], deployment: r["deployment"], version: VersionRef(model: r["model"], version: r["version"]),
      variant: try variant(r), score: r["score"], comment: r["comment"], actor: r["actor"], time: date(r["time_us"])!)
  }
}

import Foundation
import GRDB

/// The embedded control-plane store: SQLite through GRDB, one `DatabasePool` (WAL mode: readers never
/// wait for the writer), foreign keys on, versioned migrations. Every statement is parameterized; text
/// that looks like SQL is only ever bound as a value.
public final class SQLiteControlStore: ControlStore {
  public static let fileName = "hearth.sqlite"
  let pool: DatabasePool
  public let path: String

  /// Opens (creating if needed, with mode 0700 for the directory and 0600 for the files) the store in
  /// `directory`. `readOnly` opens an existing store without migrating, for inspection; every write
  /// then fails, which is also how tests make the audit sink unwritable.
  public init(directory: String, readOnly: Bool = false) throws {
    let fm = FileManager.default
    if !readOnly && !fm.fileExists(atPath: directory) {
      try fm.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }
    path = (directory as NSString).appendingPathComponent(Self.fileName)
    if readOnly && !fm.fileExists(atPath: path) { throw ControlPlaneError.notFound("control-plane database \(path)") }
    var config = Configuration()
    config.foreignKeysEnabled = true
    config.readonly = readOnly
    config.label = "hearth.control"
    // A CLI command and the server may share the file: wait for the other's write instead of failing.
    config.busyMode = .timeout(10)
    config.prepareDatabase { db in
      if !db.configuration.readonly { try db.execute(sql: "PRAGMA synchronous = NORMAL") }
    }
    let existed = fm.fileExists(atPath: path)
    do {
      pool = try DatabasePool(path: path, configuration: config)
      if !readOnly { try Self.migrator.migrate(pool) }
    } catch {
      throw ControlPlaneError.storage("cannot open \(path): \(error)")
    }
    if !existed && !readOnly {
      for suffix in ["", "-wal", "-shm"] where fm.fileExists(atPath: path + suffix) {
        try? fm.setAttributes([.posixPermissions: 0o600], ofItemAtPath: path + suffix)
      }
    }
  }

  /// The journal mode in force (`wal`), for tests and `hearth status`.
  public func journalMode() async throws -> String {
    try await pool.read { db in try String.fetchOne(db, sql: "PRAGMA journal_mode") ?? "" }
  }

  /// Applied schema migrations, in order.
  public func appliedMigrations() async throws -> [String] {
    try await pool.read { db in try Self.migrator.appliedMigrations(db) }
  }

  /// Runs raw SQL with the append-only triggers dropped: for tamper tests only, which must do what an
  /// attacker holding the file would.
  func tamper(_ sql: String) async throws {
    try await pool.write { db in
      try db.execute(sql: "DROP TRIGGER IF EXISTS audit_records_no_update; DROP TRIGGER IF EXISTS audit_records_no_delete")
      try db.execute(sql: sql)
    }
  }

  /// Raw SQL as the application would run it (triggers in place), for tests.
  func rawExecute(_ sql: String) async throws {
    try await pool.write { db in try db.execute(sql: sql) }
  }

  /// Writes the WAL into the main file (so a grep of `hearth.sqlite` alone sees every row).
  public func checkpointWAL() async throws {
    _ = try await pool.writeWithoutTransaction { db in try db.checkpoint(.truncate) }
  }

  public func setting(_ name: String) async throws -> String? {
    try await run { try await self.pool.read { db in try String.fetchOne(db, sql: "SELECT value FROM settings WHERE name = ?", arguments: [name]) } }
  }

  @discardableResult
  public func commit(_ mutations: [ControlMutation], audit: [AuditDraft]) async throws -> [AuditRecord] {
    try await run {
      try await self.pool.write { db in
        for m in mutations { try Self.apply(m, db) }
        return try Self.append(audit, db)
      }
    }
  }

  /// Maps GRDB errors to `ControlPlaneError` so callers never see the backend.
  func run<T>(_ body: () async throws -> T) async throws -> T {
    do { return try await body() } catch let e as DatabaseError {
      switch e.extendedResultCode {
      case .SQLITE_CONSTRAINT_UNIQUE, .SQLITE_CONSTRAINT_PRIMARYKEY:
        throw ControlPlaneError.conflict("already exists (\(Self.constraintName(e)))")
      case .SQLITE_CONSTRAINT_FOREIGNKEY:
        throw ControlPlaneError.notFound("referenced tenant or user")
      default:
        throw ControlPlaneError.storage(e.message ?? "\(e.resultCode)")
      }
    }
  }

  static func constraintName(_ e: DatabaseError) -> String {
    let m = e.message ?? ""
    if let r = m.range(of: "failed: ") { return String(m[r.upperBound...]) }
    return m
  }
}

extension SQLiteControlStore {
  static var migrator: DatabaseMigrator {
    var m = DatabaseMigrator()
    m.registerMigration("v1: identities, audit, usage, settings, data keys") { db in
      try db.execute(sql: schemaV1)
    }
    m.registerMigration("v2: deployments, deployment requests, feedback") { db in
      try db.execute(sql: schemaV2Deployments)
    }
    return m
  }

  static let schemaV1 = """
    CREATE TABLE tenants (
      id TEXT PRIMARY KEY NOT NULL,
      name TEXT NOT NULL UNIQUE,
      policy TEXT NOT NULL,
      created_us INTEGER NOT NULL
    );
    CREATE TABLE users (
      id TEXT PRIMARY KEY NOT NULL,
      tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
      name TEXT NOT NULL,
      role TEXT NOT NULL,
      source TEXT NOT NULL,
      created_us INTEGER NOT NULL,
      UNIQUE (tenant_id, name)
    );
    CREATE TABLE api_keys (
      id TEXT PRIMARY KEY NOT NULL,
      tenant_id TEXT NOT NULL REFERENCES tenants(id) ON DELETE RESTRICT,
      user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
      name TEXT NOT NULL,
      description TEXT NOT NULL,
      role TEXT NOT NULL,
      models TEXT NOT NULL,
      expires_us INTEGER,
      limits TEXT NOT NULL,
      budget TEXT,
      revoked INTEGER NOT NULL DEFAULT 0,
      revoked_us INTEGER,
      last_used_us INTEGER,
      created_us INTEGER NOT NULL,
      secret_mac BLOB NOT NULL
    );
    CREATE INDEX api_keys_tenant ON api_keys(tenant_id);
    CREATE INDEX api_keys_user ON api_keys(user_id);
    CREATE TABLE audit_records (
      seq INTEGER PRIMARY KEY NOT NULL,
      time_us INTEGER NOT NULL,
      kind TEXT NOT NULL,
      tenant_id TEXT NOT NULL,
      key_id TEXT,
      user_id TEXT,
      actor TEXT NOT NULL,
      action TEXT NOT NULL,
      route TEXT,
      model TEXT,
      model_version TEXT,
      status INTEGER,
      prompt_tokens INTEGER,
      completion_tokens INTEGER,
      latency_us INTEGER,
      client TEXT,
      prompt_mac BLOB,
      prompt_capture BLOB,
      target TEXT,
      before TEXT,
      after TEXT,
      detail TEXT,
      prev_hash BLOB NOT NULL,
      hash BLOB NOT NULL
    );
    CREATE INDEX audit_records_tenant_time ON audit_records(tenant_id, time_us);
    CREATE INDEX audit_records_time ON audit_records(time_us);
    CREATE INDEX audit_records_key ON audit_records(key_id);
    CREATE TRIGGER audit_records_no_update BEFORE UPDATE ON audit_records
      BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    CREATE TRIGGER audit_records_no_delete BEFORE DELETE ON audit_records
      BEGIN SELECT RAISE(ABORT, 'audit records are append-only'); END;
    CREATE TABLE audit_checkpoints (
      seq INTEGER PRIMARY KEY NOT NULL,
      record_seq INTEGER NOT NULL,
      record_hash BLOB NOT NULL,
      time_us INTEGER NOT NULL,
      prev_signature BLOB NOT NULL,
      signing_key_id TEXT NOT NULL,
      signature BLOB NOT NULL
    );
    CREATE TABLE usage (
      tenant_id TEXT NOT NULL,
      key_id TEXT NOT NULL,
      model TEXT NOT NULL,
      day TEXT NOT NULL,
      prompt_tokens INTEGER NOT NULL,
      completion_tokens INTEGER NOT NULL,
      requests INTEGER NOT NULL,
      PRIMARY KEY (tenant_id, key_id, model, day)
    ) WITHOUT ROWID;
    CREATE INDEX usage_tenant_day ON usage(tenant_id, day);
    CREATE TABLE settings (
      name TEXT PRIMARY KEY NOT NULL,
      value TEXT NOT NULL
    );
    CREATE TABLE data_keys (
      id TEXT PRIMARY KEY NOT NULL,
      master_key_id TEXT NOT NULL,
      version INTEGER NOT NULL,
      wrapped BLOB NOT NULL,
      created_us INTEGER NOT NULL
    );
    """
}

import Foundation

/// A change to identities or settings. Services hand a list of them to `ControlStore.commit` together
/// with the audit records describing them, and the store applies both in one transaction: no change
/// without its audit record, and no audit record for a change that did not happen.
public enum ControlMutation: Sendable, Equatable {
  case insertTenant(Tenant)
  /// Replaces name and policy of the tenant with this id.
  case updateTenant(Tenant)
  case insertUser(User)
  /// Deletes the user; its API keys go with it (no orphaned credentials).
  case deleteUser(id: String, tenantID: String)
  case insertKey(APIKeyRecord)
  /// Replaces every mutable field of the key with this id and tenant (revocation and rotation included).
  case updateKey(APIKeyRecord)
  case setSetting(name: String, value: String?)
}

public protocol TenantRepository: Sendable {
  func tenant(id: String) async throws -> Tenant?
  func tenant(named name: String) async throws -> Tenant?
  /// Tenants in `scope`, oldest first.
  func tenants(scope: TenantScope) async throws -> [Tenant]
}

public protocol UserRepository: Sendable {
  func user(id: String, scope: TenantScope) async throws -> User?
  func user(named name: String, tenantID: String) async throws -> User?
  func users(scope: TenantScope) async throws -> [User]
}

public protocol APIKeyRepository: Sendable {
  func apiKey(id: String, scope: TenantScope) async throws -> APIKeyRecord?
  /// Keys in `scope` (optionally one user's), oldest first.
  func apiKeys(scope: TenantScope, userID: String?) async throws -> [APIKeyRecord]
  /// The key and its tenant in one read, for verification on the request path.
  func credential(keyID: String) async throws -> (APIKeyRecord, Tenant)?
  /// Records last-used times in one write; ignores ids that no longer exist.
  func touchKeys(_ times: [String: Date]) async throws
}

public protocol AuditRepository: Sendable {
  /// Seals the drafts onto the end of the chain in one transaction (one writer: the chain never forks).
  func appendAudit(_ drafts: [AuditDraft]) async throws -> [AuditRecord]
  func auditHead() async throws -> AuditHead?
  /// Records matching `query`, by sequence number.
  func auditRecords(_ query: AuditQuery) async throws -> [AuditRecord]
  func lastAuditCheckpoint() async throws -> AuditCheckpoint?
  /// Checkpoints after `afterSeq`, oldest first.
  func auditCheckpoints(afterSeq: Int64, limit: Int) async throws -> [AuditCheckpoint]
  /// In one transaction: reads the chain head and last checkpoint, asks `build` for a new checkpoint
  /// (nil: none due) and stores it.
  func appendCheckpoint(_ build: @Sendable (AuditHead?, AuditCheckpoint?) throws -> AuditCheckpoint?) async throws -> AuditCheckpoint?
}

/// One addition to the usage counters (kept per tenant, key, model and UTC day).
public struct UsageDelta: Sendable, Equatable {
  public var tenantID: String
  public var keyID: String
  public var model: String
  public var day: String
  public var promptTokens: Int
  public var completionTokens: Int
  public var requests: Int

  public init(tenantID: String, keyID: String, model: String, day: String, promptTokens: Int, completionTokens: Int, requests: Int = 1) {
    self.tenantID = tenantID
    self.keyID = keyID
    self.model = model
    self.day = day
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.requests = requests
  }
}

public enum UsageGrouping: String, Sendable, CaseIterable {
  case day, month, total
}

public struct UsageQuery: Sendable, Equatable {
  public var scope: TenantScope
  public var keyID: String?
  public var model: String?
  /// Inclusive UTC days, `YYYY-MM-DD`.
  public var fromDay: String?
  public var toDay: String?
  public var grouping: UsageGrouping

  public init(scope: TenantScope, keyID: String? = nil, model: String? = nil, fromDay: String? = nil, toDay: String? = nil, grouping: UsageGrouping = .day) {
    self.scope = scope
    self.keyID = keyID
    self.model = model
    self.fromDay = fromDay
    self.toDay = toDay
    self.grouping = grouping
  }
}

/// Usage summed per tenant, key, model and period (`YYYY-MM-DD`, `YYYY-MM` or `total`).
public struct UsageRow: Sendable, Equatable, Codable {
  public var tenantID: String
  public var keyID: String
  public var model: String
  public var period: String
  public var promptTokens: Int
  public var completionTokens: Int
  public var requests: Int

  public init(tenantID: String, keyID: String, model: String, period: String, promptTokens: Int, completionTokens: Int, requests: Int) {
    self.tenantID = tenantID
    self.keyID = keyID
    self.model = model
    self.period = period
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.requests = requests
  }

  public var totalTokens: Int { promptTokens + completionTokens }
}

public protocol UsageRepository: Sendable {
  func addUsage(_ delta: UsageDelta) async throws
  func usage(_ query: UsageQuery) async throws -> [UsageRow]
  /// Prompt + completion tokens of a tenant (or one of its keys) over inclusive UTC days.
  func tokensUsed(tenantID: String, keyID: String?, fromDay: String, toDay: String) async throws -> Int
}

/// A data key as stored: wrapped by the master key identified by `masterKeyID`.
public struct DataKeyRecord: Sendable, Equatable {
  public var id: String
  public var masterKeyID: String
  /// Bumped each time the key is re-wrapped under a new master key.
  public var version: Int
  public var wrapped: Data
  public var createdAt: Date

  public init(id: String, masterKeyID: String, version: Int, wrapped: Data, createdAt: Date) {
    self.id = id
    self.masterKeyID = masterKeyID
    self.version = version
    self.wrapped = wrapped
    self.createdAt = createdAt
  }
}

public protocol DataKeyRepository: Sendable {
  /// All data keys, oldest first.
  func dataKeys() async throws -> [DataKeyRecord]
  func insertDataKey(_ key: DataKeyRecord) async throws
  /// Replaces the stored data keys by `new` (matched by id) in one transaction, provided they still
  /// equal `old`; returns false, changing nothing, if another writer changed them meanwhile.
  func replaceDataKeys(_ new: [DataKeyRecord], ifUnchanged old: [DataKeyRecord]) async throws -> Bool
}

public protocol SettingsRepository: Sendable {
  func setting(_ name: String) async throws -> String?
}

/// Everything the control plane keeps. `SQLiteControlStore` is the embedded default; a PostgreSQL
/// store implements the same protocols and callers do not change.
public protocol ControlStore: TenantRepository, UserRepository, APIKeyRepository, AuditRepository, UsageRepository,
  DataKeyRepository, SettingsRepository, DeploymentRepository
{
  /// Applies `mutations` and appends `audit` atomically; returns the sealed audit records.
  /// Throws `ControlPlaneError.conflict` on a duplicate name or id and `.notFound` when an update or
  /// delete matches no row in the given tenant.
  @discardableResult
  func commit(_ mutations: [ControlMutation], audit: [AuditDraft]) async throws -> [AuditRecord]
}

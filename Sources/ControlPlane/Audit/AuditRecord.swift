import Foundation

public enum AuditKind: String, Codable, Sendable, CaseIterable {
  /// One per inference call.
  case inference
  /// One per administrative change (keys, users, tenants, models, deployments, settings).
  case admin
  /// Security events: failed logins, refused keys worth keeping, master key rotation.
  case security
}

/// What a caller hands to the audit log; the log adds the sequence number and the chain hashes.
public struct AuditDraft: Sendable, Equatable {
  public var time: Date
  public var kind: AuditKind
  public var tenantID: String
  public var keyID: String?
  public var userID: String?
  /// Who acted: `key:<id>`, `user:<name>`, `cli:<login>`, `system`.
  public var actor: String
  /// What happened: `inference`, `key.create`, `tenant.update`, `login.failed`, ...
  public var action: String
  public var route: String?
  public var model: String?
  public var modelVersion: String?
  /// HTTP status or an exit status.
  public var status: Int?
  public var promptTokens: Int?
  public var completionTokens: Int?
  public var latencyMicros: Int64?
  public var client: String?
  /// HMAC-SHA256 of the prompt under a key derived from the server secret: equal prompts can be
  /// matched across records without the prompt being kept.
  public var promptMAC: Data?
  /// The prompt itself, envelope-encrypted; only when the tenant's policy keeps prompts.
  public var promptCapture: Data?
  /// What an admin change touched: `key:<id>`, `tenant:<id>`, `user:<id>`, ...
  public var target: String?
  /// JSON snapshots of the object before and after an admin change.
  public var before: String?
  public var after: String?
  /// Free text for security events (never secrets).
  public var detail: String?

  public init(
    time: Date, kind: AuditKind, tenantID: String, keyID: String? = nil, userID: String? = nil, actor: String,
    action: String, route: String? = nil, model: String? = nil, modelVersion: String? = nil, status: Int? = nil,
    promptTokens: Int? = nil, completionTokens: Int? = nil, latencyMicros: Int64? = nil, client: String? = nil,
    promptMAC: Data? = nil, promptCapture: Data? = nil, target: String? = nil, before: String? = nil,
    after: String? = nil, detail: String? = nil
  ) {
    self.time = time
    self.kind = kind
    self.tenantID = tenantID
    self.keyID = keyID
    self.userID = userID
    self.actor = actor
    self.action = action
    self.route = route
    self.model = model
    self.modelVersion = modelVersion
    self.status = status
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.latencyMicros = latencyMicros
    self.client = client
    self.promptMAC = promptMAC
    self.promptCapture = promptCapture
    self.target = target
    self.before = before
    self.after = after
    self.detail = detail
  }
}

/// A sealed record: a draft plus its place in the hash chain.
public struct AuditRecord: Sendable, Equatable {
  public var seq: Int64
  public var draft: AuditDraft
  /// The previous record's hash (32 zero bytes for the first record).
  public var prevHash: Data
  /// SHA-256 over the canonical serialization of everything above (`AuditCanonical`).
  public var hash: Data

  public init(seq: Int64, draft: AuditDraft, prevHash: Data, hash: Data) {
    self.seq = seq
    self.draft = draft
    self.prevHash = prevHash
    self.hash = hash
  }

  /// Seals `draft` as record `seq` after a record whose hash is `prevHash`.
  public static func seal(_ draft: AuditDraft, seq: Int64, prevHash: Data) -> AuditRecord {
    var d = draft
    d.time = AuditCanonical.truncated(d.time)  // stored in whole microseconds: hash what is stored
    return AuditRecord(seq: seq, draft: d, prevHash: prevHash, hash: AuditCanonical.hash(seq: seq, draft: d, prevHash: prevHash))
  }

  public static let genesisHash = Data(repeating: 0, count: 32)
}

/// The last record of the chain.
public struct AuditHead: Sendable, Equatable {
  public var seq: Int64
  public var hash: Data
  public var time: Date

  public init(seq: Int64, hash: Data, time: Date) {
    self.seq = seq
    self.hash = hash
    self.time = time
  }
}

/// A signed statement that record `recordSeq` has hash `recordHash`, linked to the previous checkpoint
/// by its signature.
public struct AuditCheckpoint: Sendable, Equatable, Codable {
  public var seq: Int64
  public var recordSeq: Int64
  public var recordHash: Data
  public var time: Date
  /// The previous checkpoint's signature (empty for the first).
  public var prevSignature: Data
  /// Fingerprint of the Ed25519 public key that signed (`AuditSigner.keyID`).
  public var signingKeyID: String
  /// Ed25519 over `AuditCanonical.checkpointBytes`.
  public var signature: Data

  public init(seq: Int64, recordSeq: Int64, recordHash: Data, time: Date, prevSignature: Data, signingKeyID: String, signature: Data) {
    self.seq = seq
    self.recordSeq = recordSeq
    self.recordHash = recordHash
    self.time = time
    self.prevSignature = prevSignature
    self.signingKeyID = signingKeyID
    self.signature = signature
  }
}

/// Filters for auditors' queries and exports. Results come in sequence order, `limit` at a time;
/// pass the last `seq` seen as `afterSeq` for the next page.
public struct AuditQuery: Sendable, Equatable {
  public var scope: TenantScope
  public var since: Date?
  public var until: Date?
  public var keyID: String?
  public var model: String?
  public var kind: AuditKind?
  public var afterSeq: Int64
  public var limit: Int

  public init(
    scope: TenantScope, since: Date? = nil, until: Date? = nil, keyID: String? = nil, model: String? = nil,
    kind: AuditKind? = nil, afterSeq: Int64 = 0, limit: Int = 100
  ) {
    self.scope = scope
    self.since = since
    self.until = until
    self.keyID = keyID
    self.model = model
    self.kind = kind
    self.afterSeq = afterSeq
    self.limit = limit
  }
}

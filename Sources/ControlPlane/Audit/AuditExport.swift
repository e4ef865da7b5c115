import Foundation

/// A page of audit records; pass `nextAfterSeq` back as `AuditQuery.afterSeq` for the next one.
public struct AuditPage: Sendable, Equatable {
  public var records: [AuditRecord]
  public var nextAfterSeq: Int64?
}

public enum AuditExportFormat: String, Sendable, CaseIterable {
  /// One JSON object per line, for a SIEM.
  case jsonl
}

/// A record as exported: hashes and MACs in hex, the prompt capture never (only whether there is one).
public struct AuditExportLine: Encodable, Sendable {
  var seq: Int64
  var time: String
  var kind: String
  var tenant: String
  var keyID: String?
  var userID: String?
  var actor: String
  var action: String
  var route: String?
  var model: String?
  var modelVersion: String?
  var status: Int?
  var promptTokens: Int?
  var completionTokens: Int?
  var latencyUs: Int64?
  var client: String?
  var promptHMAC: String?
  var promptCaptured: Bool
  var target: String?
  var before: String?
  var after: String?
  var detail: String?
  var prevHash: String
  var hash: String

  enum CodingKeys: String, CodingKey {
    case seq, time, kind, tenant, actor, action, route, model, status, client, target, before, after, detail, hash
    case keyID = "key_id", userID = "user_id", modelVersion = "model_version", promptTokens = "prompt_tokens"
    case completionTokens = "completion_tokens", latencyUs = "latency_us", promptHMAC = "prompt_hmac"
    case promptCaptured = "prompt_captured", prevHash = "prev_hash"
  }

  public init(_ r: AuditRecord) {
    let d = r.draft
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    seq = r.seq
    time = f.string(from: d.time)
    kind = d.kind.rawValue
    tenant = d.tenantID
    keyID = d.keyID
    userID = d.userID
    actor = d.actor
    action = d.action
    route = d.route
    model = d.model
    modelVersion = d.modelVersion
    status = d.status
    promptTokens = d.promptTokens
    completionTokens = d.completionTokens
    latencyUs = d.latencyMicros
    client = d.client
    promptHMAC = d.promptMAC?.hexString
    promptCaptured = d.promptCapture != nil
    target = d.target
    before = d.before
    after = d.after
    detail = d.detail
    prevHash = r.prevHash.hexString
    hash = r.hash.hexString
  }
}

extension AuditLog {
  /// Records for an auditor: needs `audit.read`; a caller outside the system tenant sees only its own
  /// tenant, whatever scope the query asks for.
  public func query(_ q: AuditQuery, by principal: Principal) async throws -> AuditPage {
    try principal.require(.auditRead)
    var q = q
    q.scope = try principal.narrow(q.scope)
    q.limit = min(max(q.limit, 1), 1000)
    let records = try await store.auditRecords(q)
    return AuditPage(records: records, nextAfterSeq: records.count == q.limit ? records.last?.seq : nil)
  }

  /// Streams the records of `scope` (narrowed to what `principal` may read) between `since`
  /// (inclusive) and `until` (exclusive) to `write`, one line each. Returns the number written.
  @discardableResult
  public func export(
    since: Date? = nil, until: Date? = nil, scope: TenantScope = .all, format: AuditExportFormat = .jsonl,
    by principal: Principal, to write: (String) throws -> Void
  ) async throws -> Int {
    try principal.require(.auditRead)
    let scope = try principal.narrow(scope)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    var q = AuditQuery(scope: scope, since: since, until: until, afterSeq: 0, limit: 1000)
    var count = 0
    while true {
      let page = try await store.auditRecords(q)
      for r in page {
        switch format {
        case .jsonl: try write(String(decoding: try encoder.encode(AuditExportLine(r)), as: UTF8.self) + "\n")
        }
      }
      count += page.count
      guard let last = page.last, page.count == q.limit else { return count }
      q.afterSeq = last.seq
    }
  }

  /// The kept prompt of an inference record, decrypted, for an auditor of its tenant; nil when the
  /// record kept none.
  public func capturedPrompt(_ record: AuditRecord, by principal: Principal) async throws -> Data? {
    try principal.require(.auditRead, inTenant: record.draft.tenantID)
    guard let blob = record.draft.promptCapture else { return nil }
    guard let cipher else { throw EncryptionError.masterKeyRequired("the prompt capture") }
    return try await cipher.open(blob, context: "audit.prompt")
  }
}

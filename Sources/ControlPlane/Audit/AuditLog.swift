import Foundation
import Logging

/// What the audit log does when its sink cannot be written.
public enum AuditFailurePolicy: String, Sendable {
  /// `append` throws `AuditError.unavailable`; the server answers 503 rather than serve unrecorded.
  case failClosed = "closed"
  /// `append` logs the failure, counts it and returns no record; the request goes on.
  case failOpen = "open"
}

public enum AuditError: Error, Equatable, Sendable, CustomStringConvertible {
  case unavailable(String)
  /// The tenant keeps prompts but no master key is configured: prompts are never kept in plaintext.
  case captureNeedsEncryption

  public var description: String {
    switch self {
    case .unavailable(let m): "audit trail unavailable: \(m)"
    case .captureNeedsEncryption: "the tenant's policy keeps prompts, which needs encryption at rest (a master key)"
    }
  }
}

/// One inference call, as the server reports it to the audit log.
public struct InferenceCall: Sendable {
  public var time: Date
  public var route: String
  public var model: String
  public var modelVersion: String?
  public var status: Int
  public var promptTokens: Int
  public var completionTokens: Int
  public var latencyMicros: Int64
  public var client: String?
  /// The prompt as received (messages JSON or text): HMACed always, kept (encrypted) only by policy.
  public var prompt: Data

  public init(
    time: Date, route: String, model: String, modelVersion: String? = nil, status: Int, promptTokens: Int,
    completionTokens: Int, latencyMicros: Int64, client: String? = nil, prompt: Data
  ) {
    self.time = time
    self.route = route
    self.model = model
    self.modelVersion = modelVersion
    self.status = status
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.latencyMicros = latencyMicros
    self.client = client
    self.prompt = prompt
  }
}

/// The tamper-evident audit trail: a hash chain of records with signed checkpoints.
public final class AuditLog: Sendable {
  let store: any AuditRepository
  let signer: AuditSigner
  let secret: ServerSecret
  let cipher: EnvelopeCipher?
  let clock: any TimeSource
  let logger: Logger
  public let failurePolicy: AuditFailurePolicy
  /// A checkpoint is due after this many records...
  public let checkpointEvery: Int
  /// ...or this many seconds after the last one, whichever comes first.
  public let checkpointInterval: TimeInterval
  /// The newest checkpoint this process knows of (before the first: record 0 at `startedAt`).
  let lastCheckpoint = Locked<(recordSeq: Int64, time: Date)?>(nil)
  let startedAt: Date
  let dropped = Locked<Int>(0)

  public init(
    store: any AuditRepository, signer: AuditSigner, secret: ServerSecret, cipher: EnvelopeCipher?,
    failurePolicy: AuditFailurePolicy = .failClosed, checkpointEvery: Int = 1000, checkpointInterval: TimeInterval = 60,
    clock: any TimeSource = SystemTime(), logger: Logger = Logger(label: "hearth.audit")
  ) {
    self.store = store
    self.signer = signer
    self.secret = secret
    self.cipher = cipher
    self.failurePolicy = failurePolicy
    self.checkpointEvery = max(1, checkpointEvery)
    self.checkpointInterval = checkpointInterval
    self.clock = clock
    self.logger = logger
    startedAt = clock.now()
  }

  /// The public key that verifies this log's checkpoints.
  public var verifierKey: AuditVerifierKey { signer.verifier }

  /// Records dropped under the fail-open policy since start (export it as a metric).
  public var droppedRecords: Int { dropped.withLock { $0 } }

  /// Records one inference call by `principal`. Under fail-closed, throws `AuditError` when the record
  /// cannot be written; under fail-open, returns nil instead.
  @discardableResult
  public func recordInference(_ call: InferenceCall, by principal: Principal) async throws -> AuditRecord? {
    var capture: Data?
    if principal.storePrompts {
      if let cipher {
        do { capture = try await cipher.seal(call.prompt, context: "audit.prompt") } catch {
          return try failed(AuditError.unavailable("prompt encryption failed: \(error)"))
        }
      } else if failurePolicy == .failClosed {
        throw AuditError.captureNeedsEncryption
      } else {
        logger.error("prompt not kept: \(AuditError.captureNeedsEncryption)", metadata: ["tenant": "\(principal.tenantID)"])
      }
    }
    let draft = AuditDraft(
      time: call.time, kind: .inference, tenantID: principal.tenantID, keyID: principal.keyID, userID: principal.userID,
      actor: principal.actor, action: "inference", route: call.route, model: call.model, modelVersion: call.modelVersion,
      status: call.status, promptTokens: call.promptTokens, completionTokens: call.completionTokens,
      latencyMicros: call.latencyMicros, client: call.client, promptMAC: secret.mac(prompt: call.prompt), promptCapture: capture)
    return try await append([draft]).first
  }

  /// Appends records (admin and security events come through here too), then checkpoints if one is due.
  @discardableResult
  public func append(_ drafts: [AuditDraft]) async throws -> [AuditRecord] {
    let records: [AuditRecord]
    do { records = try await store.appendAudit(drafts) } catch {
      return try failed(AuditError.unavailable("\(error)")) ?? []
    }
    if let last = records.last { await checkpointAfter(last) }
    return records
  }

  func failed<T>(_ error: AuditError) throws -> T? {
    if failurePolicy == .failClosed { throw error }
    dropped.withLock { $0 += 1 }
    logger.error("audit record dropped (fail-open): \(error)")
    return nil
  }

  /// Called after every append (the store's own commits included): checkpoints when due, logging failures
  /// (records are already safe; the next due check retries).
  func checkpointAfter(_ r: AuditRecord) async {
    if lastCheckpoint.withLock({ $0 == nil }) {
      do {
        let newest = try await store.lastAuditCheckpoint()
        lastCheckpoint.withLock { $0 = newest.map { ($0.recordSeq, $0.time) } ?? (0, startedAt) }
      } catch {
        logger.error("audit checkpoint state unreadable: \(error)")
        return
      }
    }
    let due: Bool = lastCheckpoint.withLock { last in
      guard let last else { return false }
      return r.seq - last.recordSeq >= Int64(checkpointEvery) || clock.now().timeIntervalSince(last.time) >= checkpointInterval
    }
    guard due else { return }
    do { try await checkpointIfDue() } catch { logger.error("audit checkpoint failed: \(error)") }
  }

  /// Writes a checkpoint if `checkpointEvery` records or `checkpointInterval` seconds have passed since
  /// the last one and there is something new. The server calls this on a timer too.
  @discardableResult
  public func checkpointIfDue() async throws -> AuditCheckpoint? { try await writeCheckpoint(force: false) }

  /// Writes a checkpoint now, covering the latest record; nil when the last checkpoint already does.
  @discardableResult
  public func checkpoint() async throws -> AuditCheckpoint? { try await writeCheckpoint(force: true) }

  func writeCheckpoint(force: Bool) async throws -> AuditCheckpoint? {
    let now = clock.now()
    let every = Int64(checkpointEvery)
    let interval = checkpointInterval
    let signer = signer
    let startedAt = startedAt
    let written = try await store.appendCheckpoint { head, last in
      let (lastSeq, lastTime) = (last?.recordSeq ?? 0, last?.time ?? startedAt)
      guard let head, head.seq > lastSeq else { return nil }
      if !force, head.seq - lastSeq < every, now.timeIntervalSince(lastTime) < interval { return nil }
      var c = AuditCheckpoint(
        seq: (last?.seq ?? 0) + 1, recordSeq: head.seq, recordHash: head.hash, time: AuditCanonical.truncated(now),
        prevSignature: last?.signature ?? Data(), signingKeyID: signer.keyID, signature: Data())
      c.signature = try signer.sign(c)
      return c
    }
    if let written {
      lastCheckpoint.withLock { $0 = (written.recordSeq, written.time) }
    } else if let newest = try await store.lastAuditCheckpoint() {
      // Nothing was due, perhaps because another process checkpointed: follow the store.
      lastCheckpoint.withLock { $0 = (newest.recordSeq, newest.time) }
    }
    return written
  }

  /// Checkpoints on a timer until the calling task is cancelled (wrap it in the server's service).
  public func runCheckpoints() async {
    while !Task.isCancelled {
      do { try await Task.sleep(for: .seconds(max(1, checkpointInterval))) } catch { return }
      do { try await checkpointIfDue() } catch { logger.error("audit checkpoint failed: \(error)") }
    }
  }
}

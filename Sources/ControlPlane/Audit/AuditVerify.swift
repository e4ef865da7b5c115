import Foundation

/// One thing wrong with the trail, placed at the record where it shows.
public struct AuditProblem: Sendable, Equatable, CustomStringConvertible {
  public enum Kind: String, Sendable {
    /// A record's content no longer matches its hash.
    case modified
    /// A record's prev_hash does not match the record before it (a record deleted, inserted or moved).
    case brokenLink
    /// Sequence numbers skip: records were deleted.
    case missingRecords
    /// A checkpoint's signature does not verify (forged or altered), or it was signed by another key.
    case badSignature
    /// A checkpoint does not link to the previous checkpoint, or checkpoints are missing.
    case brokenCheckpointChain
    /// A record differs from what a valid checkpoint signed, or a signed record is gone.
    case checkpointMismatch
  }

  public var kind: Kind
  /// The record sequence number where the problem shows (for checkpoint problems, the record it covers).
  public var seq: Int64
  /// The checkpoint concerned, if any.
  public var checkpoint: Int64?
  public var message: String

  public var description: String { message }
}

/// The outcome of `AuditLog.verify`.
public struct AuditVerification: Sendable, Equatable {
  public var records: Int
  public var checkpoints: Int
  /// The last record covered by a valid checkpoint signature (0: none).
  public var signedThrough: Int64
  /// Every problem found, in chain order (capped at 100).
  public var problems: [AuditProblem]

  public var ok: Bool { problems.isEmpty }
  /// The first bad place in the chain.
  public var firstProblem: AuditProblem? { problems.first }
}

extension AuditLog {
  /// Walks the whole chain and every checkpoint. Detects modified, deleted, inserted and reordered
  /// records and forged, altered or deleted checkpoints, and reports them in chain order.
  ///
  /// `trusting` is the public key to check signatures with; by default this log's own (an auditor
  /// passes the key exported earlier, so a replaced signing key in the data dir is caught too).
  public func verify(trusting key: AuditVerifierKey? = nil) async throws -> AuditVerification {
    let key = key ?? signer.verifier
    var problems = [AuditProblem]()
    func report(_ kind: AuditProblem.Kind, _ seq: Int64, _ checkpoint: Int64?, _ message: String) {
      if problems.count < 100 { problems.append(AuditProblem(kind: kind, seq: seq, checkpoint: checkpoint, message: message)) }
    }

    // Checkpoints first: they are few, and records are checked against them on the walk below.
    var checkpoints = [AuditCheckpoint]()
    var after: Int64 = 0
    while true {
      let page = try await store.auditCheckpoints(afterSeq: after, limit: 1000)
      guard let last = page.last else { break }
      checkpoints += page
      after = last.seq
    }
    var checkpointProblems = [(Int64, AuditProblem.Kind, Int64, String)]()
    var byRecord = [Int64: [AuditCheckpoint]]()
    var prevSignature = Data()
    var prevSeq: Int64 = 0
    var prevRecordSeq: Int64 = 0
    for c in checkpoints {
      if c.seq != prevSeq + 1 {
        checkpointProblems.append((c.recordSeq, .brokenCheckpointChain, c.seq, "checkpoints \(prevSeq + 1)...\(c.seq - 1) are missing"))
      } else if c.prevSignature != prevSignature {
        checkpointProblems.append((c.recordSeq, .brokenCheckpointChain, c.seq, "checkpoint \(c.seq) does not carry checkpoint \(prevSeq)'s signature"))
      }
      if !key.isValid(c) {
        let why = c.signingKeyID == key.keyID ? "its signature does not verify (forged or altered)" : "it is signed by unknown key \(c.signingKeyID)"
        checkpointProblems.append((c.recordSeq, .badSignature, c.seq, "checkpoint \(c.seq): \(why)"))
      } else {
        byRecord[c.recordSeq, default: []].append(c)
      }
      if c.recordSeq < prevRecordSeq {
        checkpointProblems.append((c.recordSeq, .brokenCheckpointChain, c.seq, "checkpoint \(c.seq) goes back to record \(c.recordSeq)"))
      }
      prevSignature = c.signature
      prevSeq = c.seq
      prevRecordSeq = max(prevRecordSeq, c.recordSeq)
    }

    // The chain walk, a page at a time. `prev` follows the stored hashes, so one modified record is
    // reported once rather than breaking every check after it.
    var expected: Int64 = 1
    var prev = AuditRecord.genesisHash
    var count = 0
    var signedThrough: Int64 = 0
    var pending = checkpointProblems.sorted { $0.0 < $1.0 }[...]
    var cursor: Int64 = 0
    while true {
      let page = try await store.auditRecords(AuditQuery(scope: .all, afterSeq: cursor, limit: 1000))
      guard let lastInPage = page.last else { break }
      for r in page {
        while let p = pending.first, p.0 < r.seq {
          report(p.1, p.0, p.2, p.3)
          pending = pending.dropFirst()
        }
        if r.seq != expected {
          report(.missingRecords, expected, nil, "records \(expected)...\(r.seq - 1) are missing (deleted)")
        }
        if r.prevHash != prev {
          report(
            .brokenLink, r.seq, nil,
            "record \(r.seq) does not link to record \(r.seq - 1) (one of them was altered and rehashed, or records were deleted, inserted or moved)")
        }
        if AuditCanonical.hash(seq: r.seq, draft: r.draft, prevHash: r.prevHash) != r.hash {
          report(.modified, r.seq, nil, "record \(r.seq) was modified (its content does not match its hash)")
        }
        for c in byRecord[r.seq] ?? [] {
          if c.recordHash != r.hash {
            report(.checkpointMismatch, r.seq, c.seq, "record \(r.seq) differs from what checkpoint \(c.seq) signed")
          } else if problems.isEmpty {
            signedThrough = r.seq
          }
        }
        while let p = pending.first, p.0 == r.seq {
          report(p.1, p.0, p.2, p.3)
          pending = pending.dropFirst()
        }
        prev = r.hash
        expected = r.seq + 1
        count += 1
      }
      cursor = lastInPage.seq
    }
    for p in pending { report(p.1, p.0, p.2, p.3) }
    for (seq, cs) in byRecord.sorted(by: { $0.key < $1.key }) where seq >= expected {
      for c in cs { report(.checkpointMismatch, seq, c.seq, "record \(seq), signed by checkpoint \(c.seq), is missing (records deleted from the end)") }
    }
    return AuditVerification(records: count, checkpoints: checkpoints.count, signedThrough: signedThrough, problems: problems)
  }
}

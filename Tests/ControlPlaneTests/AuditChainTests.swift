import Crypto
import Foundation
import Testing

@testable import ControlPlane

/// A trail of 30 inference records with a checkpoint every 10 (checkpoints 1, 2, 3 sign records 10, 20, 30).
struct Trail {
  let f: Fixture
  let principal: Principal

  init(records: Int = 30, checkpointEvery: Int = 10) async throws {
    f = try await Fixture(checkpointEvery: checkpointEvery)
    // Fixture setup made one admin record (the system tenant); start the trail from a clean count.
    principal = Principal(tenantID: Tenant.systemID, keyID: "abcdefABCDEF", role: .developer, actor: "key:abcdefABCDEF")
    let have = Int(try await f.store.auditHead()?.seq ?? 0)
    for i in have..<records { try await append(i) }
  }

  func append(_ i: Int) async throws {
    let call = InferenceCall(
      time: f.clock.now(), route: "/v1/chat/completions", model: "m\(i % 3)", status: 200, promptTokens: i, completionTokens: 2 * i,
      latencyMicros: Int64(1000 + i), client: "127.0.0.1", prompt: Data("prompt \(i)".utf8))
    try await f.cp.audit.recordInference(call, by: principal)
    f.clock.advance(by: 1)
  }

  func verify() async throws -> AuditVerification { try await f.cp.audit.verify() }

  /// The hash record `seq` would have after `edit`, so a tamperer can "fix up" a record.
  func rehash(_ seq: Int64, prevHash: Data? = nil, _ edit: (inout AuditDraft) -> Void) async throws -> Data {
    let r = try #require(try await f.store.auditRecords(AuditQuery(scope: .all, afterSeq: seq - 1, limit: 1)).first)
    var d = r.draft
    edit(&d)
    return AuditCanonical.hash(seq: seq, draft: d, prevHash: prevHash ?? r.prevHash)
  }
}

@Suite struct AuditChainTests {
  @Test func anIntactTrailVerifies() async throws {
    let t = try await Trail()
    let v = try await t.verify()
    #expect(v.ok, "\(v.problems)")
    #expect(v.records == 30 && v.checkpoints == 3 && v.signedThrough == 30)
  }

  @Test func recordsAreAppendOnlyInTheDatabaseToo() async throws {
    let t = try await Trail()
    await #expect(throws: (any Error).self) { try await t.f.store.rawExecute("UPDATE audit_records SET status = 500 WHERE seq = 3") }
    await #expect(throws: (any Error).self) { try await t.f.store.rawExecute("DELETE FROM audit_records WHERE seq = 3") }
    #expect(try await t.verify().ok)
  }

  @Test func modifiedRecord() async throws {
    let t = try await Trail()
    try await t.f.store.tamper("UPDATE audit_records SET completion_tokens = 1 WHERE seq = 15")
    let p = try #require(try await t.verify().firstProblem)
    #expect(p.kind == .modified && p.seq == 15)
  }

  @Test func modifiedAndRehashedRecord() async throws {
    let t = try await Trail()
    let h = try await t.rehash(15) { $0.status = 500 }
    try await t.f.store.tamper("UPDATE audit_records SET status = 500, hash = X'\(h.hexString)' WHERE seq = 15")
    let v = try await t.verify()
    let p = try #require(v.firstProblem)
    #expect(p.kind == .brokenLink && p.seq == 16)
    #expect(v.problems.contains { $0.kind == .checkpointMismatch } == false)  // record 20 itself is intact
  }

  @Test func rewrittenTailIsCaughtByTheSignedCheckpoint() async throws {
    let t = try await Trail()
    // The attacker changes record 15 and recomputes every hash after it: the chain is consistent again...
    var prev = try #require(try await t.f.store.auditRecords(AuditQuery(scope: .all, afterSeq: 13, limit: 1)).first).hash
    for seq in Int64(15)...30 {
      let h = try await t.rehash(seq, prevHash: prev) { if seq == 15 { $0.status = 500 } }
      try await t.f.store.tamper(
        "UPDATE audit_records SET \(seq == 15 ? "status = 500, " : "")prev_hash = X'\(prev.hexString)', hash = X'\(h.hexString)' WHERE seq = \(seq)")
      prev = h
    }
    // ...but no longer matches what checkpoint 2 signed for record 20.
    let p = try #require(try await t.verify().firstProblem)
    #expect(p.kind == .checkpointMismatch && p.seq == 20 && p.checkpoint == 2)
  }

  @Test func deletedRecord() async throws {
    let t = try await Trail()
    try await t.f.store.tamper("DELETE FROM audit_records WHERE seq = 15")
    let v = try await t.verify()
    #expect(v.firstProblem?.kind == .missingRecords && v.firstProblem?.seq == 15)
    #expect(v.problems.contains { $0.kind == .brokenLink && $0.seq == 16 })
  }

  @Test func deletedTailCoveredByACheckpoint() async throws {
    let t = try await Trail()
    try await t.f.store.tamper("DELETE FROM audit_records WHERE seq > 25")
    let p = try #require(try await t.verify().firstProblem)
    #expect(p.kind == .checkpointMismatch && p.seq == 30 && p.checkpoint == 3)
  }

  @Test func insertedRecord() async throws {
    let t = try await Trail()
    // Renumber 11... up by one and slip a well-formed record in as 11, chained properly to record 10.
    try await t.f.store.tamper("UPDATE audit_records SET seq = -(seq + 1) WHERE seq > 10; UPDATE audit_records SET seq = -seq WHERE seq < 0")
    let ten = try #require(try await t.f.store.auditRecords(AuditQuery(scope: .all, afterSeq: 9, limit: 1)).first)
    let forged = AuditRecord.seal(
      AuditDraft(time: ten.draft.time, kind: .inference, tenantID: Tenant.systemID, actor: "key:abcdefABCDEF", action: "inference"),
      seq: 11, prevHash: ten.hash)
    try await t.f.store.tamper(
      """
      INSERT INTO audit_records (seq, time_us, kind, tenant_id, actor, action, prev_hash, hash)
      VALUES (11, \(AuditCanonical.micros(forged.draft.time)), 'inference', 'default', 'key:abcdefABCDEF', 'inference',
        X'\(forged.prevHash.hexString)', X'\(forged.hash.hexString)')
      """)
    let v = try await t.verify()
    let p = try #require(v.firstProblem)
    #expect(p.seq == 12 && p.kind == .brokenLink)
    #expect(v.problems.contains { $0.kind == .checkpointMismatch })
  }

  @Test func reorderedRecords() async throws {
    let t = try await Trail()
    try await t.f.store.tamper(
      "UPDATE audit_records SET seq = -12 WHERE seq = 12; UPDATE audit_records SET seq = 12 WHERE seq = 13; UPDATE audit_records SET seq = 13 WHERE seq = -12")
    let v = try await t.verify()
    #expect(v.firstProblem?.seq == 12)
    #expect(v.problems.contains { $0.kind == .modified && $0.seq == 12 })
    #expect(v.problems.contains { $0.seq == 13 })
  }

  @Test func forgedCheckpoint() async throws {
    let t = try await Trail()
    try await t.f.store.tamper("UPDATE audit_checkpoints SET record_hash = X'\(Data(count: 32).hexString)' WHERE seq = 2")
    let p = try #require(try await t.verify().firstProblem)
    #expect(p.kind == .badSignature && p.checkpoint == 2 && p.seq == 20)
  }

  @Test func checkpointSignedByAnotherKey() async throws {
    let t = try await Trail()
    // The attacker rewrites record 25 and re-signs checkpoint 3 with a key of their own.
    let h = try await t.rehash(25) { $0.status = 500 }
    try await t.f.store.tamper("UPDATE audit_records SET status = 500, hash = X'\(h.hexString)' WHERE seq = 25")
    let evil = AuditSigner(privateKey: Curve25519.Signing.PrivateKey())
    var c = try #require(try await t.f.store.auditCheckpoints(afterSeq: 2, limit: 1).first)
    c.signingKeyID = evil.keyID
    c.signature = try evil.sign(c)
    try await t.f.store.tamper("UPDATE audit_checkpoints SET signing_key_id = '\(c.signingKeyID)', signature = X'\(c.signature.hexString)' WHERE seq = 3")
    let v = try await t.verify()
    #expect(v.problems.contains { $0.kind == .badSignature && $0.checkpoint == 3 })
    #expect(v.firstProblem?.seq == 26)
    // An auditor holding the exported public key gets the same verdict.
    let pinned = try AuditVerifierKey(pem: t.f.cp.audit.verifierKey.pem)
    #expect(try await t.f.cp.audit.verify(trusting: pinned).problems == v.problems)
    // And a trail checked against the wrong key fails everywhere.
    #expect(try await t.f.cp.audit.verify(trusting: evil.verifier).problems.filter { $0.kind == .badSignature }.count == 2)
  }

  @Test func deletedCheckpoint() async throws {
    let t = try await Trail()
    try await t.f.store.tamper("DELETE FROM audit_checkpoints WHERE seq = 2")
    let p = try #require(try await t.verify().firstProblem)
    #expect(p.kind == .brokenCheckpointChain && p.checkpoint == 3)
  }

  @Test func manyConcurrentAppendsKeepOneChain() async throws {
    let t = try await Trail(records: 1, checkpointEvery: 50)
    try await withThrowingTaskGroup(of: Void.self) { g in
      for w in 0..<8 {
        g.addTask {
          for i in 0..<60 {
            let call = InferenceCall(
              time: Date(), route: "/v1/embeddings", model: "w\(w)", status: 200, promptTokens: i, completionTokens: 0, latencyMicros: 1,
              prompt: Data("w\(w) p\(i)".utf8))
            try await t.f.cp.audit.recordInference(call, by: t.principal)
          }
        }
      }
      // Admin changes commit through the same writer at the same time.
      g.addTask {
        for i in 0..<20 { _ = try await t.f.tenant("concurrent \(i)") }
      }
      try await g.waitForAll()
    }
    let v = try await t.verify()
    #expect(v.ok, "\(v.problems)")
    #expect(v.records == 1 + 8 * 60 + 20)
    #expect(try await t.f.store.auditHead()?.seq == Int64(v.records))
  }

  @Test func checkpointsByCountTimeAndOnDemand() async throws {
    let t = try await Trail(records: 3, checkpointEvery: 1000)
    // 4 records in 3 seconds: no checkpoint is due yet.
    try await t.append(100)
    #expect(try await t.f.store.auditCheckpoints(afterSeq: 0, limit: 10).isEmpty)
    #expect(try await t.f.cp.audit.checkpointIfDue() == nil)
    t.f.clock.advance(by: 61)
    try await t.append(101)  // a minute has passed: this append checkpoints
    let now = try await t.f.store.auditCheckpoints(afterSeq: 0, limit: 10)
    #expect(now.count == 1 && now.last?.recordSeq == 5)
    try await t.append(102)
    let onDemand = try #require(try await t.f.cp.audit.checkpoint())
    #expect(onDemand.recordSeq == 6 && onDemand.prevSignature == now.last?.signature)
    #expect(try await t.f.cp.audit.checkpoint() == nil)  // nothing new to sign
    #expect(try await t.verify().signedThrough == 6)
  }
}

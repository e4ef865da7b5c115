import Foundation
import Testing

@testable import ControlPlane

@Suite struct AuditLogTests {
  func call(_ f: Fixture, _ prompt: String, model: String = "llama") -> InferenceCall {
    InferenceCall(
      time: f.clock.now(), route: "/v1/chat/completions", model: model, modelVersion: "3", status: 200, promptTokens: 11,
      completionTokens: 22, latencyMicros: 12_345, client: "10.0.0.7", prompt: Data(prompt.utf8))
  }

  @Test func inferenceRecordsCarryEverythingButThePrompt() async throws {
    let f = try await Fixture()
    let t = try await f.tenant("acme")
    let k = try await f.key(t.id)
    let p = try await f.cp.keys.verify(k.plaintext)
    let r = try #require(try await f.cp.audit.recordInference(call(f, "tell me a secret"), by: p))
    let d = r.draft
    #expect(d.kind == .inference && d.tenantID == t.id && d.keyID == k.record.id && d.route == "/v1/chat/completions")
    #expect(d.model == "llama" && d.modelVersion == "3" && d.status == 200 && d.promptTokens == 11 && d.completionTokens == 22)
    #expect(d.latencyMicros == 12_345 && d.client == "10.0.0.7")
    #expect(d.promptMAC == f.cp.secret.mac(prompt: Data("tell me a secret".utf8)))
    #expect(d.promptMAC != f.cp.secret.mac(prompt: Data("tell me a secreT".utf8)))
    #expect(d.promptCapture == nil)
    try await f.store.checkpointWAL()
    #expect(!contains(allBytes(in: f.dir.path), Data("tell me a secret".utf8)))
  }

  @Test func keptPromptsAreEncryptedAndReadableByTheTenantsAuditor() async throws {
    let f = try await Fixture(encrypted: true)
    let t = try await f.tenant("keeps", policy: TenantPolicy(storePrompts: true))
    let other = try await f.tenant("other")
    let p = try await f.cp.keys.verify(try await f.key(t.id).plaintext)
    #expect(p.storePrompts)
    let prompt = "the quarterly numbers are 4711 and 0815"
    let r = try #require(try await f.cp.audit.recordInference(call(f, prompt), by: p))
    let blob = try #require(r.draft.promptCapture)
    #expect(!contains(blob, Data(prompt.utf8)))
    let auditor = Principal(tenantID: t.id, role: .auditor, actor: "a")
    #expect(try await f.cp.audit.capturedPrompt(r, by: auditor) == Data(prompt.utf8))
    let outsider = Principal(tenantID: other.id, role: .auditor, actor: "o")
    await #expect(throws: ControlPlaneError.self) { try await f.cp.audit.capturedPrompt(r, by: outsider) }
    try await f.store.checkpointWAL()
    #expect(!contains(allBytes(in: f.dir.path), Data(prompt.utf8)))
    #expect(!contains(allBytes(in: f.dir.path), Data("quarterly".utf8)))
  }

  @Test func keepingPromptsWithoutAMasterKeyFailsClosed() async throws {
    let f = try await Fixture()
    var p = Principal(tenantID: Tenant.systemID, keyID: "abcdefABCDEF", role: .developer, actor: "k")
    p.storePrompts = true
    await #expect(throws: AuditError.captureNeedsEncryption) { try await f.cp.audit.recordInference(call(f, "x"), by: p) }
  }

  @Test func failClosedWhenTheSinkCannotBeWritten() async throws {
    let f = try await Fixture()
    let readOnly = try SQLiteControlStore(directory: f.dir.path, readOnly: true)
    var config = ControlPlaneConfig(dataDir: f.dir.path)
    config.environment = [:]
    let cp = try await ControlPlaneServices.open(config, store: readOnly)
    let p = Principal(tenantID: Tenant.systemID, role: .developer, actor: "k")
    do {
      _ = try await cp.audit.recordInference(call(f, "x"), by: p)
      Issue.record("an unwritable audit trail must throw under fail-closed")
    } catch let e as AuditError {
      guard case .unavailable = e else { Issue.record("wrong error \(e)"); return }
    }
    // Admin changes fail too, and atomically.
    await #expect(throws: ControlPlaneError.self) { try await cp.tenants.create(name: "x", by: Fixture.admin) }
    #expect(try await readOnly.tenant(named: "x") == nil)
  }

  @Test func failOpenDropsAndCounts() async throws {
    let f = try await Fixture()
    let readOnly = try SQLiteControlStore(directory: f.dir.path, readOnly: true)
    var config = ControlPlaneConfig(dataDir: f.dir.path)
    config.environment = [:]
    config.auditFailurePolicy = .failOpen
    let logs = CapturedLogs()
    config.logger = logs.logger()
    let cp = try await ControlPlaneServices.open(config, store: readOnly)
    let p = Principal(tenantID: Tenant.systemID, role: .developer, actor: "k")
    #expect(try await cp.audit.recordInference(call(f, "x"), by: p) == nil)
    #expect(try await cp.audit.recordInference(call(f, "y"), by: p) == nil)
    #expect(cp.audit.droppedRecords == 2)
    #expect(logs.all.contains("audit record dropped"))
  }

  @Test func queryPagesAndFilters() async throws {
    let f = try await Fixture()
    let t = try await f.tenant("acme")
    let k1 = try await f.cp.keys.verify(try await f.key(t.id, name: "one").plaintext)
    let k2 = try await f.cp.keys.verify(try await f.key(t.id, name: "two").plaintext)
    let start = f.clock.now()
    for i in 0..<25 {
      try await f.cp.audit.recordInference(call(f, "p\(i)", model: i % 2 == 0 ? "even" : "odd"), by: i < 20 ? k1 : k2)
      f.clock.advance(by: 10)
    }
    var q = AuditQuery(scope: .tenant(t.id), kind: .inference, limit: 10)
    var seen = [AuditRecord]()
    while true {
      let page = try await f.cp.audit.query(q, by: Fixture.admin)
      seen += page.records
      guard let next = page.nextAfterSeq else { break }
      q.afterSeq = next
    }
    #expect(seen.count == 25)
    #expect(seen.map(\.seq) == seen.map(\.seq).sorted())
    #expect(try await f.cp.audit.query(AuditQuery(scope: .all, keyID: k2.keyID), by: Fixture.admin).records.count == 5)
    #expect(try await f.cp.audit.query(AuditQuery(scope: .all, model: "even", limit: 1000), by: Fixture.admin).records.count == 13)
    let window = AuditQuery(scope: .all, since: start.addingTimeInterval(50), until: start.addingTimeInterval(100), kind: .inference)
    #expect(try await f.cp.audit.query(window, by: Fixture.admin).records.count == 5)
    #expect(try await f.cp.audit.query(AuditQuery(scope: .all, kind: .admin), by: Fixture.admin).records.count == 4)
  }

  @Test func exportWritesOneJSONObjectPerRecord() async throws {
    let f = try await Fixture()
    let p = Principal(tenantID: Tenant.systemID, keyID: "abcdefABCDEF", role: .developer, actor: "key:abcdefABCDEF")
    let start = f.clock.now()
    for i in 0..<5 {
      try await f.cp.audit.recordInference(call(f, "p\(i)"), by: p)
      f.clock.advance(by: 60)
    }
    var lines = [String]()
    let n = try await f.cp.audit.export(since: start.addingTimeInterval(60), until: start.addingTimeInterval(240), by: Fixture.admin) {
      lines.append($0)
    }
    #expect(n == 3 && lines.count == 3)
    for l in lines {
      #expect(l.hasSuffix("\n") && l.dropLast().firstIndex(of: "\n") == nil)
      let o = try #require(try JSONSerialization.jsonObject(with: Data(l.utf8)) as? [String: Any])
      #expect(o["kind"] as? String == "inference")
      #expect(o["key_id"] as? String == "abcdefABCDEF")
      #expect((o["hash"] as? String)?.count == 64 && (o["prev_hash"] as? String)?.count == 64)
      #expect((o["prompt_hmac"] as? String)?.count == 64)
      #expect(o["prompt_captured"] as? Bool == false)
      #expect(o["prompt_tokens"] as? Int == 11 && o["latency_us"] as? Int == 12_345)
      #expect((o["time"] as? String)?.hasSuffix("Z") == true)
    }
    var all = 0
    try await f.cp.audit.export(by: Fixture.admin) { _ in all += 1 }
    #expect(all == 6)  // the system tenant's creation, then the five calls
    // An auditor of another tenant exports nothing of these; a developer may not export at all.
    let t = try await f.tenant("other")
    var theirs = 0
    try await f.cp.audit.export(by: Principal(tenantID: t.id, role: .auditor, actor: "a")) { _ in theirs += 1 }
    #expect(theirs == 1)  // only its own tenant's creation record
    await #expect(throws: ControlPlaneError.forbidden(.auditRead)) {
      try await f.cp.audit.export(by: Principal(tenantID: t.id, role: .developer, actor: "d")) { _ in }
    }
    await #expect(throws: ControlPlaneError.self) {
      try await f.cp.audit.export(scope: .tenant(Tenant.systemID), by: Principal(tenantID: t.id, role: .auditor, actor: "a")) { _ in }
    }
  }

  @Test func theVerifierKeyRoundTripsThroughPEM() throws {
    let signer = AuditSigner(privateKey: .init())
    let pem = signer.verifier.pem
    #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----\nMCowBQYDK2VwAyEA"))
    #expect(try AuditVerifierKey(pem: pem).keyID == signer.keyID)
    #expect(throws: ControlPlaneError.self) { try AuditVerifierKey(pem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----") }
  }
}

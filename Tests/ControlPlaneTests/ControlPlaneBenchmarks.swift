import Foundation
import Testing

@testable import ControlPlane

/// What the control plane costs on the request path. Prints, never asserts timings; runs only with
/// HEARTH_BENCH=1 and means something only in a release build:
///   HEARTH_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-cp --filter ControlPlaneBenchmarks
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_BENCH"] == "1"), .serialized)
struct ControlPlaneBenchmarks {
  static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  /// The median of `runs` timings of `body`, in seconds.
  static func median(_ runs: Int, _ body: () async throws -> Void) async rethrows -> Double {
    var times = [Double]()
    for _ in 0..<runs {
      let t0 = now()
      try await body()
      times.append(now() - t0)
    }
    return times.sorted()[runs / 2]
  }

  @Test func keyVerification() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    let n = 5000
    let parse = try await Self.median(5) { for _ in 0..<n { _ = try APIKeyToken.parse(k.plaintext) } }
    let mac = await Self.median(5) { for _ in 0..<n { _ = f.cp.secret.mac(keyID: k.token.keyID, secret: k.token.secret) } }
    let bad = String(repeating: "x", count: 10_240)
    let malformed = await Self.median(5) { for _ in 0..<n { _ = try? APIKeyToken.parse(bad) } }
    let hop = try await Self.median(5) { for _ in 0..<n { _ = try await f.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") } } }
    let syncHop = try await Self.median(5) { for _ in 0..<n { _ = try f.store.pool.read { db in try Int.fetchOne(db, sql: "SELECT 1") } } }
    print(String(format: "GRDB read of SELECT 1:       %7.2f µs async, %.2f µs sync (the floor under a lookup)", hop / Double(n) * 1e6, syncHop / Double(n) * 1e6))
    let lookup = try await Self.median(5) { for _ in 0..<n { _ = try await f.cp.store.credential(keyID: k.record.id) } }
    let verify = try await Self.median(5) { for _ in 0..<n { _ = try await f.cp.keys.verify(k.plaintext) } }
    print(String(format: "key parse (checksum):        %7.2f µs", parse / Double(n) * 1e6))
    print(String(format: "key parse, 10 KB malformed:  %7.2f µs", malformed / Double(n) * 1e6))
    print(String(format: "HMAC-SHA256 of the secret:   %7.2f µs", mac / Double(n) * 1e6))
    print(String(format: "store lookup (key + tenant): %7.2f µs", lookup / Double(n) * 1e6))
    print(String(format: "verify (parse+lookup+HMAC):  %7.2f µs  (%.0f/s, one task)", verify / Double(n) * 1e6, Double(n) / verify))
  }

  @Test func auditAppends() async throws {
    let f = try await Fixture(checkpointEvery: 1000)
    let p = Principal(tenantID: Tenant.systemID, keyID: "abcdefABCDEF", role: .developer, actor: "key:abcdefABCDEF")
    let call = InferenceCall(
      time: Date(), route: "/v1/chat/completions", model: "llama", status: 200, promptTokens: 100, completionTokens: 200,
      latencyMicros: 1234, client: "127.0.0.1", prompt: Data(repeating: 65, count: 2000))
    let n = 4000
    let t0 = Self.now()
    for _ in 0..<n { try await f.cp.audit.recordInference(call, by: p) }
    let seq = Self.now() - t0
    let t1 = Self.now()
    try await withThrowingTaskGroup(of: Void.self) { g in
      for _ in 0..<8 { g.addTask { for _ in 0..<(n / 8) { try await f.cp.audit.recordInference(call, by: p) } } }
      try await g.waitForAll()
    }
    let conc = Self.now() - t1
    let t2 = Self.now()
    let v = try await f.cp.audit.verify()
    let verify = Self.now() - t2
    print(String(format: "audit append, one task:      %7.0f records/s (%.1f µs each)", Double(n) / seq, seq / Double(n) * 1e6))
    print(String(format: "audit append, 8 tasks:       %7.0f records/s", Double(n) / conc))
    print(String(format: "audit verify:                %7.0f records/s (%d records, %d checkpoints, ok: %@)", Double(v.records) / verify, v.records, v.checkpoints, v.ok ? "yes" : "no"))
  }

  @Test func encryptionThroughput() async throws {
    let f = try await Fixture(encrypted: true)
    let c = try #require(f.cp.cipher)
    let size = 256 << 20
    let src = f.dir.file("big"), enc = f.dir.file("big.enc"), out = f.dir.file("big.out")
    var block = Data(count: 1 << 20)
    block.withUnsafeMutableBytes { b in for i in 0..<b.count { b[i] = UInt8(truncatingIfNeeded: i &* 31 &+ i >> 7) } }
    _ = FileManager.default.createFile(atPath: src, contents: nil)
    let h = try FileHandle(forWritingTo: URL(fileURLWithPath: src))
    for _ in 0..<(size >> 20) { try h.write(contentsOf: block) }
    try h.close()
    let mb = Double(size) / 1_048_576
    let e = try await Self.median(3) { try await c.encryptFile(at: src, to: enc) }
    let dm = try await Self.median(3) { _ = try await c.decryptFile(at: enc) }
    let df = try await Self.median(3) { try await c.decryptFile(at: enc, to: out) }
    let raw = try await Self.median(3) { _ = try Data(contentsOf: URL(fileURLWithPath: src)) }
    let prompt = Data(repeating: 66, count: 4096)
    let n = 5000
    let small = try await Self.median(3) { for _ in 0..<n { _ = try await c.seal(prompt, context: "audit.prompt") } }
    print(String(format: "encryptFile (1 MiB chunks):  %7.0f MB/s", mb / e))
    print(String(format: "decryptFile into memory:     %7.0f MB/s  (%.2f s for 256 MiB; plain read %.2f s)", mb / dm, dm, raw))
    print(String(format: "decryptFile to a file:       %7.0f MB/s", mb / df))
    print(String(format: "seal a 4 KB prompt:          %7.2f µs", small / Double(n) * 1e6))
  }
}

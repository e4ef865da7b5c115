import Foundation
import GGUF
@testable import Kernels
import Testing

/// The waiting threads' prefetch of the next decode matmul (PrefetchPlans, hk_pool_prefetch).
@Suite struct PrefetchPlanTests {
  /// Decode matmuls run A, B, C, A, ...: each group learns the one after it, and thread t's plan
  /// is the start of its first run of that group, inside the group's bytes.
  @Test func decodeLearnsTheNextGroup() {
    var rng = Rng(11)
    let a = LinearTests.Matrix(.q4_1, rows: 96, cols: 256, rng: &rng)
    let b = LinearTests.Matrix(.q8_0, rows: 64, cols: 256, rng: &rng)
    let c = LinearTests.Matrix(.q6_K, rows: 40, cols: 256, rng: &rng)
    let ws = KernelWorkspace(maxTokens: 1, maxCols: 256, threads: ThreadPool(threads: 2))
    let x = rng.normals(256)
    let reference = KernelWorkspace(maxTokens: 1, maxCols: 256, threads: ThreadPool(threads: 1))
    for round in 0..<3 {
      for m in [a, b, c] {
        // (Past m.rows, both are the NaN padding `run` checks.)
        let y = LinearTests.run(m, x, tokens: 1, mode: .fast, ws: ws).prefix(m.rows)
        #expect(y == LinearTests.run(m, x, tokens: 1, mode: .fast, ws: reference).prefix(m.rows), "round \(round)")
      }
    }
    func base(_ m: LinearTests.Matrix) -> UnsafeRawPointer { m.with { $0.data } }
    for (m, next) in [(a, b), (b, c), (c, a)] {
      let plan = ws.plans.planned(after: base(m))
      #expect(plan?.count == 2)
      guard let plan else { continue }
      let lo = base(next), hi = lo + next.bytes.count
      #expect(plan[0].0 == lo, "thread 0 starts at the group's first byte")
      for (p, n) in plan {
        #expect(p.map { $0 >= lo && $0 + n <= hi } == true)
        #expect(n > 0 && n <= PrefetchPlans.maxBytes)
      }
    }
    // One thread never waits, so it learns nothing.
    #expect(reference.plans.planned(after: base(a)) == nil)
  }

  /// Plans change nothing a job computes, wherever they point: real memory, nowhere, or an
  /// address that is not mapped (prefetches never fault). Workers also sleep and wake with one set.
  @Test func plansNeverChangeResults() {
    let pool = ThreadPool(threads: 3)
    let buffer = UnsafeMutableRawPointer.allocate(byteCount: 1 << 20, alignment: 64)
    defer { buffer.deallocate() }
    let sum = UnsafeMutablePointer<Int>.allocate(capacity: 256)
    defer { sum.deallocate() }
    let unmapped = UnsafeRawPointer(bitPattern: 0x1000)
    let plans: [[UnsafeRawPointer?]] = [
      [UnsafeRawPointer(buffer), UnsafeRawPointer(buffer + 4096), nil], [nil, nil, nil], [unmapped, unmapped, unmapped],
    ]
    for round in 0..<600 {
      var pointers = plans[round % plans.count]
      var bytes = [1 << 19, 1 << 18, 1 << 16]
      pointers.withUnsafeMutableBufferPointer { p in
        bytes.withUnsafeMutableBufferPointer { n in pool.prefetch(pointers: p.baseAddress!, bytes: n.baseAddress!) }
      }
      if round % 7 == 0 { pool.prefetch(pointers: nil, bytes: nil) }
      sum.initialize(repeating: 0, count: 256)
      pool.run(tasks: 256) { task in sum[task] = task }
      var s = 0
      for i in 0..<256 { s += sum[i] }
      #expect(s == 256 * 255 / 2)
      if round % 200 == 199 { usleep(20_000) }
    }
  }
}

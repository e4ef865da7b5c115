import CKernels
import Foundation
import Testing

/// The C target's own API, below the Swift wrappers that KernelsTests exercise: CPU feature
/// detection and level choice, the kernel tables, the fp16 conversions and the thread pool.
@Suite struct CKernelsTests {
  @Test func bestLevelFollowsTheFeatures() {
    let f = hk_cpu_features()
    let avx2Set = UInt32(HK_FEAT_AVX | HK_FEAT_AVX2 | HK_FEAT_FMA | HK_FEAT_F16C)
    let vnniSet = avx2Set | UInt32(HK_FEAT_AVX512F | HK_FEAT_AVX512BW | HK_FEAT_AVX512VL | HK_FEAT_AVX512VNNI)
    let want = (f & vnniSet) == vnniSet ? Int32(HK_LEVEL_AVX512VNNI)
      : (f & avx2Set) == avx2Set ? Int32(HK_LEVEL_AVX2) : Int32(HK_LEVEL_SCALAR)
    #expect(hk_cpu_best_level() == want)
    #if arch(x86_64)
    // x86-64-v2 is the floor the binary is built for.
    #expect(f & UInt32(HK_FEAT_SSE42) != 0)
    #expect(f & UInt32(HK_FEAT_NEON) == 0)
    #elseif arch(arm64)
    #expect(f & UInt32(HK_FEAT_NEON) != 0)
    #endif
  }

  @Test func tablesExistUpToTheBestLevelOnly() {
    #expect(hk_kernels_for_level(Int32(HK_LEVEL_SCALAR)) != nil)
    let best = hk_cpu_best_level()
    for level in [HK_LEVEL_AVX2, HK_LEVEL_AVX512VNNI] {
      let table = hk_kernels_for_level(Int32(level))
      #expect((table != nil) == (best >= Int32(level)), "level \(level)")
      #expect(table.map { $0.pointee.level } ?? Int32(level) == Int32(level))
    }
    #expect(hk_kernels_for_level(7) == nil)
    #expect(hk_kernels_for_level(-1) == nil)
  }

  @Test func fp16RoundTripsEveryFiniteValue() {
    hk_init()
    var checked = 0
    for bits in 0...0xFFFF {
      let h = UInt16(bits)
      let f = hk_fp16_lookup(h)
      #expect(f.bitPattern == Float(Float16(bitPattern: h)).bitPattern || (f.isNaN && Float16(bitPattern: h).isNaN))
      if !f.isNaN {
        #expect(hk_f32_to_fp16(f) == h)
        checked += 1
      }
    }
    #expect(checked == 65536 - 2046)  // every pattern but the NaNs
    // Round to nearest even, as numpy's astype(float16): 1 + 2^-11 is a tie between 1 and 1 + 2^-10.
    #expect(hk_f32_to_fp16(1 + 0x1p-11) == 0x3C00)
    #expect(hk_f32_to_fp16(1 + 3 * 0x1p-11) == 0x3C02)
    #expect(hk_f32_to_fp16(65520) == 0x7C00)  // rounds up past the largest finite half: infinity
  }

  final class Tally: @unchecked Sendable {
    var hits = [Int32](repeating: 0, count: 64)
    var threadsSeen = Set<Int32>()
    let lock = NSLock()
  }

  @Test(arguments: [1, 2, 3])
  func poolRunsEveryTaskOnce(_ threads: Int) {
    let pool = hk_pool_create(Int32(threads))!
    defer { hk_pool_destroy(pool) }
    #expect(hk_pool_threads(pool) == Int32(threads))
    let tally = Tally()
    let ctx = Unmanaged.passUnretained(tally).toOpaque()
    for _ in 0..<200 {
      hk_pool_run(pool, 64, { ctx, task, thread in
        let t = Unmanaged<Tally>.fromOpaque(ctx!).takeUnretainedValue()
        t.lock.lock()
        t.hits[Int(task)] += 1
        t.threadsSeen.insert(thread)
        t.lock.unlock()
      }, ctx)
    }
    #expect(tally.hits.allSatisfy { $0 == 200 })
    #expect(tally.threadsSeen.allSatisfy { $0 >= 0 && $0 < Int32(threads) })
  }
}

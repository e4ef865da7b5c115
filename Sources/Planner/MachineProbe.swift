import Dispatch
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Measures this machine: memory read bandwidth and vector multiply-add rate, each with `threads`
/// threads (as the engine runs), best of a few passes so one preemption doesn't skew the figure.
public enum MachineProbe {
  public static func profile(threads: Int, bufferBytes: Int = 512 << 20, passes: Int = 3) -> MachineProfile {
    MachineProfile(
      cpu: cpuName(), threads: threads, memoryBytes: memoryBytes(),
      bandwidthBytesPerSecond: bandwidth(threads: threads, bytes: bufferBytes, passes: passes),
      vectorFlopsPerSecond: vectorFLOPs(threads: threads, passes: passes))
  }

  /// Bytes per second that `threads` threads read from a buffer much larger than the last-level cache.
  public static func bandwidth(threads: Int, bytes: Int, passes: Int = 3) -> Double {
    let t = max(1, threads)
    let lanes = 16  // one SIMD16<Float> is 64 bytes, a cache line
    let chunk = max(1, bytes / (t * lanes * 4)) * lanes  // floats per thread, a multiple of 16
    let count = chunk * t
    let buffer = UnsafeMutablePointer<Float>.allocate(capacity: count)
    defer { buffer.deallocate() }
    buffer.initialize(repeating: 1, count: count)  // touches every page before timing
    let sink = Shared(UnsafeMutablePointer<Float>.allocate(capacity: t))
    defer { sink.p.deallocate() }
    let base = Shared(buffer)
    var best = Double.infinity
    for _ in 0..<max(1, passes) {
      let start = now()
      DispatchQueue.concurrentPerform(iterations: t) { i in
        let p = UnsafeRawPointer(base.p) + i * chunk * 4
        var a = SIMD16<Float>(), b = SIMD16<Float>()
        var off = 0
        let end = chunk * 4
        while off + 128 <= end {
          a += p.loadUnaligned(fromByteOffset: off, as: SIMD16<Float>.self)
          b += p.loadUnaligned(fromByteOffset: off + 64, as: SIMD16<Float>.self)
          off += 128
        }
        sink.p[i] = (a + b).sum()
      }
      best = min(best, now() - start)
    }
    return Double(count * 4) / best
  }

  /// f32 FLOPs per second of independent multiply-add chains in Swift SIMD, as compiled for this
  /// target (baseline x86-64 is SSE: a multiply and an add, not a fused FMA).
  public static func vectorFLOPs(threads: Int, iterations: Int = 4_000_000, passes: Int = 3) -> Double {
    let t = max(1, threads)
    let sink = Shared(UnsafeMutablePointer<Float>.allocate(capacity: t))
    defer { sink.p.deallocate() }
    var best = Double.infinity
    for _ in 0..<max(1, passes) {
      let start = now()
      DispatchQueue.concurrentPerform(iterations: t) { i in sink.p[i] = multiplyAddChains(iterations, seed: Float(i)) }
      best = min(best, now() - start)
    }
    // 8 chains × 8 lanes × (multiply + add) per iteration.
    return Double(t * iterations * 8 * 8 * 2) / best
  }

  /// Eight independent chains hide the add and multiply latencies; x·0.9999 + 0.0001 stays near 1,
  /// so no denormals or infinities slow it down.
  @inline(never)
  static func multiplyAddChains(_ n: Int, seed: Float) -> Float {
    let m = SIMD8<Float>(repeating: 0.9999), c = SIMD8<Float>(repeating: 0.0001)
    var a0 = SIMD8<Float>(repeating: seed), a1 = a0 + 1, a2 = a0 + 2, a3 = a0 + 3
    var a4 = a0 + 4, a5 = a0 + 5, a6 = a0 + 6, a7 = a0 + 7
    for _ in 0..<n {
      a0 = a0 * m + c; a1 = a1 * m + c; a2 = a2 * m + c; a3 = a3 * m + c
      a4 = a4 * m + c; a5 = a5 * m + c; a6 = a6 * m + c; a7 = a7 * m + c
    }
    return (a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7).sum()
  }

  /// Physical memory, or the cgroup's limit when a container sets a smaller one.
  public static func memoryBytes() -> Double {
    var total = Double(ProcessInfo.processInfo.physicalMemory)
    if let s = try? String(contentsOfFile: "/sys/fs/cgroup/memory.max", encoding: .utf8),
       let limit = Double(s.trimmingCharacters(in: .whitespacesAndNewlines)), limit > 0 {
      total = min(total, limit)
    }
    return total
  }

  public static func cpuName() -> String {
    if let s = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
       let line = s.split(separator: "\n").first(where: { $0.hasPrefix("model name") }),
       let colon = line.firstIndex(of: ":") {
      return line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
    }
    return "unknown CPU"
  }

  /// A pointer the worker threads share; each writes only its own elements.
  struct Shared: @unchecked Sendable {
    let p: UnsafeMutablePointer<Float>
    init(_ p: UnsafeMutablePointer<Float>) { self.p = p }
  }

  public static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }
}

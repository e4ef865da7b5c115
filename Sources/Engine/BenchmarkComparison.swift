import Foundation
import Kernels

/// Two models measured in one process, alternating: B's speed over A's for each repetition, and
/// the median of those ratios. On a shared machine speed drifts by 10-20 % from one minute to the
/// next; two separate `hearth bench` runs then compare the minutes as much as the models, while
/// here both see the same minute. pp runs alternate A B, B A, ...; tg runs alternate token by
/// token (A's token p, then B's, then B's p + 1 and A's), each model keeping its own KV cache.
public struct BenchmarkComparison: Sendable, Codable {
  public var a: BenchmarkResult
  public var b: BenchmarkResult
  /// B / A per repetition, and their median (0 where the test was skipped).
  public var ppRatioRuns: [Double]
  public var tgRatioRuns: [Double]
  public var ppRatio: Double
  public var tgRatio: Double

  enum CodingKeys: String, CodingKey {
    case a, b, ppRatioRuns = "pp_ratio_runs", tgRatioRuns = "tg_ratio_runs", ppRatio = "pp_ratio", tgRatio = "tg_ratio"
  }
}

extension Benchmark {
  public static func compare(
    pathA: String, pathB: String, threads: Int, pp: Int, tg: Int, depth: Int = 0, sequences: Int = 1, reps: Int,
    mode: KernelMode = .fast, kv: KVPrecision? = nil
  ) throws -> BenchmarkComparison {
    // One pool: the two models never run at once, and two pools would each spin their own threads.
    let pool = ThreadPool(threads: threads)
    let runners = try [pathA, pathB].map {
      try BenchmarkRunner(path: $0, pool: pool, pp: pp, tg: tg, depth: depth, sequences: sequences, mode: mode, kv: kv)
    }
    var ppRuns: [[Double]] = [[], []], tgRuns: [[Double]] = [[], []]
    for rep in -1..<reps {  // rep -1: the untimed warm-up, as in `run`
      if pp > 0 {
        for i in rep % 2 == 0 ? [0, 1] : [1, 0] {
          let tps = try runners[i].prompt()
          if rep >= 0 { ppRuns[i].append(tps) }
        }
      }
      if tg > 0 {
        var seconds = [0.0, 0.0]
        for r in runners { r.startGeneration() }
        for p in 0..<tg {
          for i in p % 2 == 0 ? [0, 1] : [1, 0] { seconds[i] += try runners[i].step(p) }
        }
        if rep >= 0 { for i in 0..<2 { tgRuns[i].append(Double(tg * sequences) / seconds[i]) } }
      }
    }
    let ppRatios = zip(ppRuns[1], ppRuns[0]).map { $0 / $1 }
    let tgRatios = zip(tgRuns[1], tgRuns[0]).map { $0 / $1 }
    return BenchmarkComparison(
      a: runners[0].result(ppRuns: ppRuns[0], tgRuns: tgRuns[0]), b: runners[1].result(ppRuns: ppRuns[1], tgRuns: tgRuns[1]),
      ppRatioRuns: ppRatios, tgRatioRuns: tgRatios, ppRatio: median(ppRatios), tgRatio: median(tgRatios))
  }
}

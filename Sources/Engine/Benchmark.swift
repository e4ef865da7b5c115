import Foundation
import Kernels
import Models

/// llama-bench's two measurements, so figures compare one to one: prompt processing (pp: one
/// batch of `pp` tokens) and generation (tg: `tg` tokens decoded one at a time), each after
/// `depth` tokens already in the KV cache (llama-bench's `-d`; 0, an empty cache, by default).
/// Each is repeated and reported as median and spread. With `sequences` > 1, tg decodes that
/// many sequences together (batched decoding, as a server under load does; each at `depth`, the
/// whole blocks of which they share as a common prefix) and counts every sequence's tokens.
public struct BenchmarkResult: Sendable, Codable {
  public var model: String
  public var threads: Int
  public var pp: Int
  public var tg: Int
  public var depth: Int
  public var sequences: Int
  public var ppTPS: Double
  public var tgTPS: Double
  public var ppTPSRuns: [Double]
  public var tgTPSRuns: [Double]
  public var loadSeconds: Double
  public var rssBytes: Int
  /// The model file's size, and how much of it is mapped by 2 MB pages (nil where unknown).
  public var fileBytes: Int
  public var hugePageBytes: Int?
  public var kernels: String
  public var kvCache: String

  enum CodingKeys: String, CodingKey {
    case model, threads, pp, tg, depth, sequences, kernels, kvCache = "kv_cache"
    case ppTPS = "pp_tps", tgTPS = "tg_tps", ppTPSRuns = "pp_tps_runs", tgTPSRuns = "tg_tps_runs"
    case loadSeconds = "load_s", rssBytes = "rss_bytes", fileBytes = "file_bytes", hugePageBytes = "huge_page_bytes"
  }
}

public enum BenchmarkError: Error, CustomStringConvertible {
  case beyondContext(tokens: Int, context: Int)
  public var description: String {
    switch self {
    case .beyondContext(let tokens, let context):
      "--depth plus the longer of --pp and --tg is \(tokens) tokens, beyond the model's context of \(context)"
    }
  }
}

public enum Benchmark {
  public static func run(
    path: String, threads: Int, pp: Int, tg: Int, depth: Int = 0, sequences: Int = 1, reps: Int, mode: KernelMode = .fast,
    kv: KVPrecision? = nil
  ) throws -> BenchmarkResult {
    let runner = try BenchmarkRunner(
      path: path, pool: ThreadPool(threads: threads), pp: pp, tg: tg, depth: depth, sequences: sequences, mode: mode, kv: kv)
    // One untimed warm-up of each, as llama-bench does.
    if pp > 0 { _ = try runner.prompt() }
    if tg > 0 { _ = try runner.generate() }
    var ppRuns: [Double] = [], tgRuns: [Double] = []
    for _ in 0..<reps {
      if pp > 0 { ppRuns.append(try runner.prompt()) }
      if tg > 0 { tgRuns.append(try runner.generate()) }
    }
    return runner.result(ppRuns: ppRuns, tgRuns: tgRuns)
  }

  public static func median(_ xs: [Double]) -> Double {
    guard !xs.isEmpty else { return 0 }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }

  public static func stddev(_ xs: [Double]) -> Double {
    guard xs.count > 1 else { return 0 }
    let m = xs.reduce(0, +) / Double(xs.count)
    return (xs.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(xs.count - 1)).squareRoot()
  }

  /// Peak resident set size of this process, in bytes. On Linux it is `VmHWM`, the high-water mark of
  /// this program's own address space: `ru_maxrss` also counts the parent's memory at `fork` (the
  /// kernel carries it over `exec`), so a bench started from a large Python script reported the
  /// script's size instead of ours.
  public static func peakRSS() -> Int {
    if let status = try? String(contentsOfFile: "/proc/self/status", encoding: .utf8),
      let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmHWM:") }),
      let kB = Int(line.dropFirst(6).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
    {
      return kB * 1024
    }
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return usage.ru_maxrss * 1024
  }
}

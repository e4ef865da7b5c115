import ArgumentParser
import Engine
import Foundation
import Kernels

/// `hearth bench`: llama-bench's pp/tg measurements for Hearth's engine.
struct Bench: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Measure prompt processing (pp) and generation (tg) tokens/s, as llama-bench does.")

  @Option(help: "Path to a .gguf model.") var model: String
  @Option(parsing: .unconditional, help: "Threads (default: all cores).") var threads: Int?
  @Option(parsing: .unconditional, help: "Prompt tokens processed in one batch (0: skip).") var pp: Int = 512
  @Option(parsing: .unconditional, help: "Tokens generated one at a time (0: skip).") var tg: Int = 128
  @Option(parsing: .unconditional, help: "Tokens already in the KV cache before each pp and tg run, as llama-bench's -d.")
  var depth: Int = 0
  @Option(parsing: .unconditional, help: "Sequences decoding together in tg (batched decoding, as a server under load); tg t/s counts them all.")
  var sequences: Int = 1
  @Option(parsing: .unconditional, help: "Repetitions; the median is reported.") var reps: Int = 5
  @Flag(help: "Exact mode (reference kernels).") var exact = false
  @Option(name: .customLong("kv-cache-type"), help: "Keys and values in the KV cache: f16 or f32 (default: f16; f32 with --exact).")
  var kvCacheType: KVPrecision?
  @Option(help: ArgumentHelp(
    "A second .gguf model to measure against the first in this process, alternating (tg token by token), with the ratio second / first per repetition.",
    valueName: "model"))
  var compare: String?
  @Flag(help: "Print one JSON object.") var json = false

  func validate() throws {
    if pp < 0 || pp > 8192 { throw ValidationError("--pp must be between 0 and 8192") }
    if tg < 0 || tg > 8192 { throw ValidationError("--tg must be between 0 and 8192") }
    if depth < 0 || depth > 131_072 { throw ValidationError("--depth must be between 0 and 131072") }
    if pp == 0 && tg == 0 { throw ValidationError("--pp and --tg cannot both be 0") }
    if !(1...100).contains(reps) { throw ValidationError("--reps must be between 1 and 100") }
    if !(1...256).contains(sequences) { throw ValidationError("--sequences must be between 1 and 256") }
    if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256") }
  }

  func run() throws {
    guard FileManager.default.fileExists(atPath: model) else { fail("no such file: \(model)") }
    let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
    if let other = compare {
      guard FileManager.default.fileExists(atPath: other) else { fail("no such file: \(other)") }
      let c: BenchmarkComparison
      do {
        c = try Benchmark.compare(pathA: model, pathB: other, threads: n, pp: pp, tg: tg, depth: depth, sequences: sequences,
                                  reps: reps, mode: exact ? .exact : .fast, kv: kvCacheType)
      } catch { fail("\(model) against \(other): \(error)") }
      try printComparison(c)
      return
    }
    let r: BenchmarkResult
    do {
      r = try Benchmark.run(path: model, threads: n, pp: pp, tg: tg, depth: depth, sequences: sequences, reps: reps,
                            mode: exact ? .exact : .fast, kv: kvCacheType)
    } catch { fail("\(model): \(error)") }
    if json { return try printOneLineJSON(r) }
    print("model: \(r.model)   threads: \(r.threads)   kernels: \(r.kernels) (\(CPUFeatures.current))"
      + "   kv cache: \(r.kvCache)" + (depth > 0 ? "   depth: \(depth)" : "") + (sequences > 1 ? "   sequences: \(sequences)" : ""))
    print(String(format: "load: %.3f s   peak RSS: %@", r.loadSeconds, formatBytes(r.rssBytes))
      + (r.hugePageBytes.map { "   in 2 MB pages: \(formatBytes($0)) of \(formatBytes(r.fileBytes))" } ?? ""))
    // llama-bench's label for a test at depth: "tg128 @ d4096".
    let depthLabel = (depth > 0 ? " @ d\(depth)" : "") as NSString
    if pp > 0 {
      print(String(format: "pp%-5d%@ %9.2f ± %.2f t/s   runs: %@", pp, depthLabel, r.ppTPS, Benchmark.stddev(r.ppTPSRuns),
                   r.ppTPSRuns.map { String(format: "%.1f", $0) }.joined(separator: " ")))
    }
    if tg > 0 {
      // llama-batched-bench's habit: the sequences beside the test's name.
      let tgLabel = (depthLabel as String) + (sequences > 1 ? " x\(sequences)" : "") as NSString
      print(String(format: "tg%-5d%@ %9.2f ± %.2f t/s   runs: %@", tg, tgLabel, r.tgTPS, Benchmark.stddev(r.tgTPSRuns),
                   r.tgTPSRuns.map { String(format: "%.1f", $0) }.joined(separator: " ")))
    }
  }

  private func printComparison(_ c: BenchmarkComparison) throws {
    if json { return try printOneLineJSON(c) }
    print("A: \(c.a.model)   B: \(c.b.model)   threads: \(c.a.threads)   kernels: \(c.a.kernels)   kv cache: \(c.a.kvCache)"
      + (depth > 0 ? "   depth: \(depth)" : "") + (sequences > 1 ? "   sequences: \(sequences)" : ""))
    print(String(format: "load: A %.3f s, B %.3f s   peak RSS (both models): %@", c.a.loadSeconds, c.b.loadSeconds,
                 formatBytes(c.b.rssBytes)))
    print("alternating in one process: pp runs A B, B A, ...; tg token by token")
    let depthLabel = depth > 0 ? " @ d\(depth)" : ""
    func line(_ label: String, _ a: Double, _ b: Double, _ ratio: Double, _ runs: [Double]) {
      print(label.padding(toLength: max(14, label.count), withPad: " ", startingAt: 0)
        + String(format: " A %9.2f t/s   B %9.2f t/s   B/A %.3f   runs: %@", a, b, ratio,
                   runs.map { String(format: "%.3f", $0) }.joined(separator: " ")))
    }
    if pp > 0 { line("pp\(pp)\(depthLabel)", c.a.ppTPS, c.b.ppTPS, c.ppRatio, c.ppRatioRuns) }
    if tg > 0 { line("tg\(tg)\(depthLabel)" + (sequences > 1 ? " x\(sequences)" : ""), c.a.tgTPS, c.b.tgTPS, c.tgRatio, c.tgRatioRuns) }
  }

  /// One JSON object on one line (scripts read the last line), keys sorted.
  private func printOneLineJSON<T: Encodable>(_ value: T) throws {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys]
    print(String(decoding: try enc.encode(value), as: UTF8.self))
  }
}

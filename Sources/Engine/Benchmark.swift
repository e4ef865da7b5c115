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
    precondition(sequences >= 1, "Benchmark.run: sequences must be at least 1")
    let start = Date()
    let model = try Architectures.load(path: path)
    let context = model.config.contextLength
    guard depth + max(pp, tg) <= context else {
      throw BenchmarkError.beyondContext(tokens: depth + max(pp, tg), context: context)
    }
    let pool = ThreadPool(threads: threads)
    let maxBatch = max(pp, min(depth, 512), sequences)
    let state = model.makeState(maxBatch: maxBatch, maxOutputs: sequences, mode: mode, pool: pool)
    // The other sequences share the depth's whole blocks: each needs room for its own partial
    // block and its tg tokens only.
    let blockTokens = 32
    let cache = model.makeCache(
      maxTokens: depth + max(pp, tg) + 1 + (sequences - 1) * (tg + 2 * blockTokens), blockTokens: blockTokens, mode: mode,
      precision: kv)
    let load = Date().timeIntervalSince(start)

    var rng = SeededGenerator(seed: 42)
    let vocab = model.config.vocabSize
    let promptTokens = (0..<pp).map { _ in Int(rng.next() % UInt64(vocab)) }
    var batch = Batch(capacity: maxBatch)

    // The depth is filled once (untimed); each run then cuts the sequence back to it.
    let seq = cache.createSequence()
    defer { cache.removeSequence(seq) }
    var filled = 0
    while filled < depth {
      let n = min(maxBatch, depth - filled)
      batch.clear()
      for p in filled..<(filled + n) {
        batch.add(token: Int(rng.next() % UInt64(vocab)), position: p, sequence: seq, logits: p == depth - 1)
      }
      _ = try model.forward(batch, cache: cache, state: state)
      filled += n
    }

    // The other sequences: the depth's whole blocks shared, its last partial block's tokens their own.
    let shared = depth / blockTokens
    var others: [Int] = []
    defer { for s in others { cache.removeSequence(s) } }
    for _ in 1..<sequences {
      let s = cache.createSequence()
      others.append(s)
      cache.adopt(s, blocks: Array(cache.blocks(of: seq).prefix(shared)), length: shared * blockTokens)
      if depth > shared * blockTokens {
        batch.clear()
        for p in (shared * blockTokens)..<depth {
          batch.add(token: Int(rng.next() % UInt64(vocab)), position: p, sequence: s, logits: false)
        }
        _ = try model.forward(batch, cache: cache, state: state)
      }
    }
    let all = [seq] + others

    func prompt() throws -> Double {
      cache.truncate(seq, to: depth)
      batch.clear()
      for (p, t) in promptTokens.enumerated() { batch.add(token: t, position: depth + p, sequence: seq, logits: p == pp - 1) }
      let t0 = DispatchTime.now().uptimeNanoseconds
      _ = try model.forward(batch, cache: cache, state: state)
      return Double(pp) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    func generate() throws -> Double {
      for s in all { cache.truncate(s, to: depth) }
      var tokens = all.map { _ in Int(rng.next() % UInt64(vocab)) }
      let t0 = DispatchTime.now().uptimeNanoseconds
      for p in 0..<tg {
        batch.clear()
        for (s, t) in zip(all, tokens) { batch.add(token: t, position: depth + p, sequence: s, logits: true) }
        _ = try model.forward(batch, cache: cache, state: state)
        for i in tokens.indices { tokens[i] = Sampler.argmax(state.logitsRow(i)) }
      }
      return Double(tg * sequences) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
    }

    // One untimed warm-up of each, as llama-bench does.
    if pp > 0 { _ = try prompt() }
    if tg > 0 { _ = try generate() }
    var ppRuns: [Double] = [], tgRuns: [Double] = []
    for _ in 0..<reps {
      if pp > 0 { ppRuns.append(try prompt()) }
      if tg > 0 { tgRuns.append(try generate()) }
    }
    return BenchmarkResult(
      model: URL(fileURLWithPath: path).lastPathComponent, threads: threads, pp: pp, tg: tg, depth: depth, sequences: sequences,
      ppTPS: median(ppRuns), tgTPS: median(tgRuns), ppTPSRuns: ppRuns, tgTPSRuns: tgRuns,
      loadSeconds: load, rssBytes: peakRSS(), fileBytes: model.file.fileSize, hugePageBytes: model.file.hugePageBytes,
      kernels: state.workspace.level.description, kvCache: cache.precision.rawValue)
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

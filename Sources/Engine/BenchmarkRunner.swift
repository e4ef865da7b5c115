import Foundation
import Kernels
import Models

/// One model made ready for `Benchmark`: loaded, its state and KV cache sized for the test, the
/// depth filled once (untimed). `prompt()` times one pp run; `generate()` times tg tokens, and
/// `step(_:)` decodes one of them, so that `Benchmark.compare` can alternate two models token by
/// token.
final class BenchmarkRunner {
  let path: String
  let model: any LanguageModel
  let state: ForwardState
  let cache: KVCache
  let pp: Int, tg: Int, depth: Int, sequences: Int
  let load: Double
  private var rng: SeededGenerator
  private var batch: Batch
  private let promptTokens: [Int]
  private var all: [Int] = []
  private var tokens: [Int] = []

  init(path: String, pool: ThreadPool, pp: Int, tg: Int, depth: Int, sequences: Int, mode: KernelMode, kv: KVPrecision?) throws {
    precondition(sequences >= 1, "Benchmark.run: sequences must be at least 1")
    let start = Date()
    self.path = path
    (self.pp, self.tg, self.depth, self.sequences) = (pp, tg, depth, sequences)
    model = try Architectures.load(path: path)
    let context = model.config.contextLength
    guard depth + max(pp, tg) <= context else {
      throw BenchmarkError.beyondContext(tokens: depth + max(pp, tg), context: context)
    }
    let maxBatch = max(pp, min(depth, 512), sequences)
    state = model.makeState(maxBatch: maxBatch, maxOutputs: sequences, mode: mode, pool: pool)
    // The other sequences share the depth's whole blocks: each needs room for its own partial
    // block and its tg tokens only.
    let blockTokens = 32
    cache = model.makeCache(
      maxTokens: depth + max(pp, tg) + 1 + (sequences - 1) * (tg + 2 * blockTokens), blockTokens: blockTokens, mode: mode,
      precision: kv)
    load = Date().timeIntervalSince(start)

    let vocab = model.config.vocabSize
    var rng = SeededGenerator(seed: 42)
    promptTokens = (0..<pp).map { _ in Int(rng.next() % UInt64(vocab)) }
    self.rng = rng
    batch = Batch(capacity: maxBatch)

    // The depth is filled once (untimed); each run then cuts the sequence back to it.
    let seq = cache.createSequence()
    all = [seq]
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
    for _ in 1..<sequences {
      let s = cache.createSequence()
      all.append(s)
      cache.adopt(s, blocks: Array(cache.blocks(of: seq).prefix(shared)), length: shared * blockTokens)
      if depth > shared * blockTokens {
        batch.clear()
        for p in (shared * blockTokens)..<depth {
          batch.add(token: Int(rng.next() % UInt64(vocab)), position: p, sequence: s, logits: false)
        }
        _ = try model.forward(batch, cache: cache, state: state)
      }
    }
  }

  deinit { for s in all { cache.removeSequence(s) } }

  /// One pp run: tokens/s.
  func prompt() throws -> Double {
    cache.truncate(all[0], to: depth)
    batch.clear()
    for (p, t) in promptTokens.enumerated() { batch.add(token: t, position: depth + p, sequence: all[0], logits: p == pp - 1) }
    let t0 = DispatchTime.now().uptimeNanoseconds
    _ = try model.forward(batch, cache: cache, state: state)
    return Double(pp) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
  }

  /// Cuts every sequence back to the depth and draws the first tokens of a tg run.
  func startGeneration() {
    for s in all { cache.truncate(s, to: depth) }
    let vocab = UInt64(model.config.vocabSize)
    tokens = all.map { _ in Int(rng.next() % vocab) }
  }

  /// Decodes token `p` of a tg run (every sequence's): its seconds.
  func step(_ p: Int) throws -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    batch.clear()
    for (s, t) in zip(all, tokens) { batch.add(token: t, position: depth + p, sequence: s, logits: true) }
    _ = try model.forward(batch, cache: cache, state: state)
    for i in tokens.indices { tokens[i] = Sampler.argmax(state.logitsRow(i)) }
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
  }

  /// One tg run: tokens/s, every sequence's tokens counted.
  func generate() throws -> Double {
    startGeneration()
    let t0 = DispatchTime.now().uptimeNanoseconds
    for p in 0..<tg { _ = try step(p) }
    return Double(tg * sequences) / (Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9)
  }

  func result(ppRuns: [Double], tgRuns: [Double]) -> BenchmarkResult {
    BenchmarkResult(
      model: URL(fileURLWithPath: path).lastPathComponent, threads: state.workspace.threads.threads, pp: pp, tg: tg, depth: depth,
      sequences: sequences, ppTPS: Benchmark.median(ppRuns), tgTPS: Benchmark.median(tgRuns), ppTPSRuns: ppRuns, tgTPSRuns: tgRuns,
      loadSeconds: load, rssBytes: Benchmark.peakRSS(), fileBytes: model.file.fileSize, hugePageBytes: model.file.hugePageBytes,
      kernels: state.workspace.level.description, kvCache: cache.precision.rawValue)
  }
}

import Foundation
import GGUF
import Kernels
import Testing

@testable import Models

/// Fixtures written by scripts/tiny-models (scripts/test runs it first).
func fixturePath(_ name: String) -> String {
  let dir = ProcessInfo.processInfo.environment["HEARTH_TINY_MODELS"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../.build-fixtures/tiny").standardized.path
  return dir + "/" + name
}

struct TinyReference: Decodable {
  let arch: String
  let tokens: [Int]
  let logits: [[Double]]
}

func loadTiny(_ arch: String) throws -> (any LanguageModel, TinyReference)? {
  let gguf = fixturePath("tiny-\(arch).gguf")
  guard FileManager.default.fileExists(atPath: gguf) else {
    Issue.record("missing \(gguf): run scripts/tiny-models .build-fixtures/tiny")
    return nil
  }
  let ref = try JSONDecoder().decode(TinyReference.self, from: Data(contentsOf: URL(fileURLWithPath: fixturePath("tiny-\(arch).json"))))
  return (try Architectures.load(path: gguf), ref)
}

/// Runs `tokens` through a fresh cache in chunks of `chunk`, returning every position's logits.
func allLogits(_ model: any LanguageModel, _ tokens: [Int], chunk: Int, mode: KernelMode) throws -> [[Float]] {
  let pool = ThreadPool(threads: 2)
  let state = model.makeState(maxBatch: chunk, maxOutputs: chunk, mode: mode, pool: pool)
  let cache = model.makeCache(maxTokens: 64, blockTokens: 4, mode: mode)
  let seq = cache.createSequence()
  var out: [[Float]] = []
  var batch = Batch(capacity: chunk)
  var start = 0
  while start < tokens.count {
    batch.clear()
    let end = min(tokens.count, start + chunk)
    for p in start..<end { batch.add(token: tokens[p], position: p, sequence: seq, logits: true) }
    let rows = try model.forward(batch, cache: cache, state: state)
    for r in 0..<rows { out.append(Array(state.logitsRow(r))) }
    start = end
  }
  return out
}

@Suite struct TinyModelTests {
  @Test(arguments: ["llama", "qwen2", "gemma3"])
  func matchesNumpyReference(_ arch: String) throws {
    guard let (model, ref) = try loadTiny(arch) else { return }
    for chunk in [ref.tokens.count, 5, 1] {
      let got = try allLogits(model, ref.tokens, chunk: chunk, mode: .exact)
      #expect(got.count == ref.logits.count)
      var maxErr = 0.0
      for (g, r) in zip(got, ref.logits) {
        for (a, b) in zip(g, r) { maxErr = max(maxErr, abs(Double(a) - b)) }
      }
      #expect(maxErr < 2e-3, "\(arch) chunk \(chunk): max |logit error| \(maxErr)")
    }
  }

  @Test(arguments: ["llama", "qwen2", "gemma3"])
  func fastModeIsClose(_ arch: String) throws {
    guard let (model, ref) = try loadTiny(arch) else { return }
    let got = try allLogits(model, ref.tokens, chunk: 4, mode: .fast)
    var maxErr = 0.0, scale = 0.0
    for (g, r) in zip(got, ref.logits) {
      for (a, b) in zip(g, r) { maxErr = max(maxErr, abs(Double(a) - b)); scale = max(scale, abs(b)) }
    }
    // 8-bit activations: errors of a few percent of the largest logit on random weights.
    #expect(maxErr < 0.04 * scale, "\(arch) fast mode: max |logit error| \(maxErr), largest logit \(scale)")
  }

  /// Fast mode keeps keys and values in f16, exact mode in f32; an f16 cache takes half the
  /// bytes and moves fast mode's logits by far less than its own 8-bit error bound above.
  @Test(arguments: ["llama", "qwen2", "gemma3"])
  func f16CacheIsHalfTheBytesAndClose(_ arch: String) throws {
    guard let (model, ref) = try loadTiny(arch) else { return }
    let fast = model.makeCache(maxTokens: 64, mode: .fast), exact = model.makeCache(maxTokens: 64, mode: .exact)
    #expect(fast.precision == .f16 && exact.precision == .f32)
    #expect(fast.bytesPerToken * 2 == exact.bytesPerToken)
    #expect(exact.bytesPerToken == model.config.layers * model.config.kvHeads * model.config.headDim * 2 * 4)
    func logits(_ precision: KVPrecision) throws -> [[Float]] {
      let state = model.makeState(maxBatch: 4, maxOutputs: 4, mode: .fast, pool: ThreadPool(threads: 2))
      let cache = KVCache(config: model.config, blockTokens: 4, maxTokens: 64, precision: precision)
      let seq = cache.createSequence()
      var out: [[Float]] = [], batch = Batch(capacity: 4), start = 0
      while start < ref.tokens.count {
        batch.clear()
        let end = min(ref.tokens.count, start + 4)
        for p in start..<end { batch.add(token: ref.tokens[p], position: p, sequence: seq, logits: true) }
        for r in 0..<(try model.forward(batch, cache: cache, state: state)) { out.append(Array(state.logitsRow(r))) }
        start = end
      }
      return out
    }
    let half = try logits(.f16), full = try logits(.f32)
    var maxDiff: Float = 0, scale: Float = 0, differs = false
    for (h, f) in zip(half, full) {
      for (a, b) in zip(h, f) { maxDiff = max(maxDiff, abs(a - b)); scale = max(scale, abs(b)); differs = differs || a != b }
    }
    #expect(differs, "\(arch): the f16 cache should round keys and values")
    #expect(maxDiff < 0.005 * scale, "\(arch): f16 vs f32 cache, max |logit difference| \(maxDiff), largest logit \(scale)")
  }

  /// Split-K decode attention (each KV head's keys cut into ranges run as separate tasks, then
  /// merged) gives the logits of one task per head: thresholds lowered so that the tiny models'
  /// 64-token context reaches it.
  @Test(arguments: ["llama", "qwen2", "gemma3"])
  func splitDecodeAttentionMatchesWhole(_ arch: String) throws {
    guard let (model, ref) = try loadTiny(arch) else { return }
    let tokens = Array((ref.tokens + ref.tokens + ref.tokens + ref.tokens).prefix(60))
    func decode(split: Bool, mode: KernelMode) throws -> [[Float]] {
      let state = model.makeState(maxBatch: 16, maxOutputs: 16, mode: mode, pool: ThreadPool(threads: 2))
      if split { state.splitMinKeys = 8; state.splitMinRange = 4 }
      let cache = model.makeCache(maxTokens: 64, blockTokens: 4, mode: mode)
      let seq = cache.createSequence()
      var batch = Batch(capacity: 16), out: [[Float]] = []
      for p in 0..<16 { batch.add(token: tokens[p], position: p, sequence: seq, logits: false) }
      _ = try model.forward(batch, cache: cache, state: state)
      for p in 16..<tokens.count {
        batch.clear()
        batch.add(token: tokens[p], position: p, sequence: seq, logits: true)
        #expect(try model.forward(batch, cache: cache, state: state) == 1)
        out.append(Array(state.logitsRow(0)))
      }
      return out
    }
    #expect(Decoder.attentionSplits(keys: 60, pairs: model.config.kvHeads, threads: 2, minKeys: 8, minRange: 4) > 1)
    for mode in [KernelMode.exact, .fast] {
      let whole = try decode(split: false, mode: mode), split = try decode(split: true, mode: mode)
      var maxDiff: Float = 0, scale: Float = 0
      for (a, b) in zip(whole, split) {
        for (x, y) in zip(a, b) { maxDiff = max(maxDiff, abs(x - y)); scale = max(scale, abs(x)) }
      }
      // Exact mode: float rounding only. Fast mode quantizes each layer's input to 16 bits, so a
      // last-bit change in attention can flip a rounding there: still far inside its own 4 % bound.
      let tolerance: Float = mode == .exact ? 1e-5 : 5e-4
      #expect(maxDiff <= tolerance * max(1, scale), "\(arch) \(mode): split vs whole attention, max |logit difference| \(maxDiff)")
    }
  }

  /// Splits: none for short contexts or one thread; an even share per thread; ranges of at
  /// least the minimum; never more than the buffers hold.
  @Test func attentionSplitCounts() {
    #expect(Decoder.attentionSplits(keys: 511, pairs: 3, threads: 2) == 1)
    #expect(Decoder.attentionSplits(keys: 4096, pairs: 3, threads: 1) == 1)
    #expect(Decoder.attentionSplits(keys: 2048, pairs: 3, threads: 2) == 2)
    #expect(Decoder.attentionSplits(keys: 2048, pairs: 1, threads: 2) == 4)
    #expect(Decoder.attentionSplits(keys: 600, pairs: 1, threads: 2) == 2)
    #expect(Decoder.attentionSplits(keys: 100_000, pairs: 1, threads: 16) == ForwardState.maxAttnSplits)
  }

  /// Five sequences decoding in one batch (each token its own sequence: the grouped attention
  /// path, whatever the batch size) give each sequence's logits alone.
  @Test(arguments: ["llama", "qwen2", "gemma3"])
  func batchedDecodeMatchesAlone(_ arch: String) throws {
    guard let (model, ref) = try loadTiny(arch) else { return }
    let prompts = (0..<5).map { r in Array(ref.tokens[r...] + ref.tokens[..<r]) }
    let alone = try prompts.map { try allLogits(model, $0, chunk: 1, mode: .exact) }
    let state = model.makeState(maxBatch: 8, maxOutputs: 8, mode: .exact, pool: ThreadPool(threads: 2))
    let cache = model.makeCache(maxTokens: 5 * 64, blockTokens: 4, mode: .exact)
    let seqs = prompts.map { _ in cache.createSequence() }
    var batch = Batch(capacity: 8)
    for p in 0..<ref.tokens.count {
      batch.clear()
      for (s, prompt) in zip(seqs, prompts) { batch.add(token: prompt[p], position: p, sequence: s, logits: true) }
      #expect(try model.forward(batch, cache: cache, state: state) == 5)
      for k in 0..<5 {
        for (a, b) in zip(alone[k][p], state.logitsRow(k)) { #expect(abs(a - b) < 1e-4, "\(arch) sequence \(k) position \(p)") }
      }
    }
  }

  /// Two sequences interleaved in one batch give the same logits as each run alone: continuous
  /// batching must not mix sequences.
  @Test(arguments: ["llama", "gemma3"])
  func interleavedSequencesAreIndependent(_ arch: String) throws {
    guard let (model, ref) = try loadTiny(arch) else { return }
    let a = ref.tokens, b = Array(ref.tokens.reversed())
    let aloneA = try allLogits(model, a, chunk: 1, mode: .exact)
    let aloneB = try allLogits(model, b, chunk: 1, mode: .exact)
    let pool = ThreadPool(threads: 2)
    let state = model.makeState(maxBatch: 4, maxOutputs: 4, mode: .exact, pool: pool)
    let cache = model.makeCache(maxTokens: 64, blockTokens: 4, mode: .exact)
    let sa = cache.createSequence(), sb = cache.createSequence()
    var batch = Batch()
    for p in 0..<a.count {
      batch.clear()
      batch.add(token: a[p], position: p, sequence: sa, logits: true)
      batch.add(token: b[p], position: p, sequence: sb, logits: true)
      #expect(try model.forward(batch, cache: cache, state: state) == 2)
      for (i, g) in zip(aloneA[p], state.logitsRow(0)) { #expect(abs(i - g) < 1e-4) }
      for (i, g) in zip(aloneB[p], state.logitsRow(1)) { #expect(abs(i - g) < 1e-4) }
    }
    cache.removeSequence(sa)
    cache.removeSequence(sb)
    #expect(cache.usedBlocks == 0)
  }

  @Test func rejectsBadInputBeforeWork() throws {
    guard let (model, _) = try loadTiny("llama") else { return }
    let pool = ThreadPool(threads: 1)
    let state = model.makeState(maxBatch: 2, maxOutputs: 1, mode: .exact, pool: pool)
    let cache = model.makeCache(maxTokens: 8, blockTokens: 4, mode: .exact)
    let s = cache.createSequence()
    var batch = Batch()
    batch.add(token: 99_999, position: 0, sequence: s, logits: true)
    #expect(throws: ModelError.badToken(id: 99_999, vocab: 96)) { try model.forward(batch, cache: cache, state: state) }
    batch.clear()
    batch.add(token: 1, position: 64, sequence: s, logits: true)
    #expect(throws: ModelError.badPosition(64)) { try model.forward(batch, cache: cache, state: state) }
    batch.clear()
    for p in 0..<3 { batch.add(token: 1, position: p, sequence: s, logits: false) }
    #expect(throws: ModelError.tooManyTokens(count: 3, limit: 2)) { try model.forward(batch, cache: cache, state: state) }
    batch.clear()
    batch.add(token: 1, position: 12, sequence: s, logits: false)
    #expect(throws: ModelError.self) { try model.forward(batch, cache: cache, state: state) }  // 13 positions > 8-token cache
  }
}

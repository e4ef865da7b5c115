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
  let cache = model.makeCache(maxTokens: 64, blockTokens: 4)
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
    let cache = model.makeCache(maxTokens: 64, blockTokens: 4)
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
    let cache = model.makeCache(maxTokens: 8, blockTokens: 4)
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

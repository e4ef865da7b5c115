import Foundation
import Kernels
import Models
import Testing

@testable import Engine

/// A decoder language model as an embedder: mean of its final-normed hidden states. Not
/// trained for similarity, so only the broad shape is checked: unit vectors, related texts
/// closer than unrelated ones, and no change to what generation computes.
@Suite(.serialized) struct DecoderPoolingTests {
  @Test func smolLM2GivesUnitVectorsThatRankSimilarTextsHigher() throws {
    guard let path = Paths.require(Paths.smollm2) else { return }
    let e = try Embedder(path: path)
    #expect(e.kind == .decoderPooled && e.isDecoderPooled && e.dimension == 576)
    let texts = [
      "The cat sits on the mat.", "A cat is sitting on a mat.",
      "Stock markets fell sharply on Monday.", "The recipe calls for two cups of flour.",
    ]
    let r = try e.embed(texts)
    #expect(r.tokenCounts == e.tokenize(texts).map(\.count) && r.tokenCounts.allSatisfy { $0 > 0 })
    for v in r.vectors { #expect(abs(norm(v) - 1) < 1e-5 && v.allSatisfy(\.isFinite)) }
    let v = r.vectors
    let paraphrase = cosine(v[0], v[1])
    for (i, j) in [(0, 2), (0, 3), (1, 2), (1, 3)] {
      #expect(paraphrase > cosine(v[i], v[j]), "cos(0,1) = \(paraphrase) vs cos(\(i),\(j)) = \(cosine(v[i], v[j]))")
    }
    print("smollm2 decoder-pooled: cos(paraphrase) \(paraphrase), unrelated \([(0, 2), (0, 3), (2, 3)].map { cosine(v[$0.0], v[$0.1]) })")
  }

  /// Chunked feeding (inputs longer than one forward batch) gives the same vector as one pass.
  @Test func longInputsAreChunkedConsistently() throws {
    guard let path = Paths.require(Paths.smollm2) else { return }
    let e = try Embedder(path: path)
    let ids = e.tokenize([String(repeating: "The quick brown fox jumps over the lazy dog. ", count: 40)])[0]
    #expect(ids.count > Embedder.decoderChunk)
    let a = try e.embed(tokens: [ids, Array(ids.prefix(10))]).vectors
    let b = try e.embed(tokens: [Array(ids.prefix(10))]).vectors
    #expect(abs(norm(a[0]) - 1) < 1e-5)
    #expect(zip(a[1], b[0]).map { abs($0 - $1) }.max()! < 1e-5)
  }

  /// Inputs packed into shared batches (more than one batch holds) see only themselves.
  @Test func packedInputsMatchOneByOne() throws {
    guard let path = Paths.require(Paths.smollm2) else { return }
    let e = try Embedder(path: path)
    let texts = (0..<(Embedder.decoderSequencesPerBatch + 6)).map { "Sentence number \($0) is about cats and \($0 % 7) dogs." }
    let all = try e.embed(texts).vectors
    for i in [0, 33, Embedder.decoderSequencesPerBatch, texts.count - 1] {
      let alone = try e.embed([texts[i]]).vectors[0]
      #expect(zip(all[i], alone).map { abs($0 - $1) }.max()! < 1e-4, "input \(i)")
    }
  }

  /// Keeping hidden states must not change the logits generation reads.
  @Test func keepHiddenLeavesLogitsAlone() throws {
    guard let path = Paths.require(Paths.smollm2) else { return }
    let model = try Architectures.load(path: path)
    let pool = ThreadPool(threads: 2)
    func logits(keep: Bool) throws -> [Float] {
      let state = model.makeState(maxBatch: 8, maxOutputs: 1, pool: pool, keepHidden: keep)
      #expect((state.hidden != nil) == keep)
      let cache = model.makeCache(maxTokens: 8)
      var batch = Batch()
      let seq = cache.createSequence()
      for (p, t) in [1, 504, 3575, 282].enumerated() { batch.add(token: t, position: p, sequence: seq, logits: p == 3) }
      _ = try model.forward(batch, cache: cache, state: state)
      return Array(state.logitsRow(0))
    }
    #expect(try logits(keep: true) == (try logits(keep: false)))
  }

  @Test func refusesBadTokens() throws {
    guard let path = Paths.require(Paths.smollm2) else { return }
    let e = try Embedder(path: path)
    #expect { try e.embed(tokens: [[1, 49152]]) } throws: { if case .model(_, .badToken(49152, 49152)) = $0 as? EmbedderError { true } else { false } }
    #expect { try e.embed(tokens: [[]]) } throws: { if case .emptySequence(0) = $0 as? EmbedderError { true } else { false } }
  }
}

import Foundation
import GGUF
import Testing

@testable import Models

/// BERT on a small random model: the forward pass against a plain Double reference written
/// from the equations, the packing of sequences, pooling, dtypes, and every loading error.
@Suite struct BertLoadingTests {
  private func withFolder<T>(_ t: TinyBert, _ body: (String) throws -> T) throws -> T {
    let dir = try t.write()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    return try body(dir)
  }

  private func expectLoadError(_ t: TinyBert, sourceLocation: SourceLocation = #_sourceLocation, _ match: (BertError) -> Bool) throws {
    try withFolder(t) { dir in
      do {
        _ = try Bert(folder: dir)
        Issue.record("loaded a bad model", sourceLocation: sourceLocation)
      } catch let error as BertError {
        #expect(match(error), "wrong error: \(error)", sourceLocation: sourceLocation)
      }
    }
  }

  static let sequences = [[1, 2, 3], [4], [5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16], [19, 0, 7]]

  @Test func matchesPlainReference() throws {
    let t = TinyBert()
    let (got, want) = try withFolder(t) { dir in
      (try Bert(folder: dir).embed(tokens: Self.sequences), Self.sequences.map { NaiveBert(t).embed($0, cls: false) })
    }
    for (g, w) in zip(got, want) {
      #expect(abs(norm(g) - 1) < 1e-6)
      #expect(cosine(g, w) > 0.999_999)
      #expect(zip(g, w).map { abs(Double($0) - $1) }.max()! < 1e-5)
    }
  }

  @Test func clsPooling() throws {
    var t = TinyBert()
    t.pooling = "cls"
    let (got, want) = try withFolder(t) { dir in
      (try Bert(folder: dir).embed(tokens: Self.sequences), Self.sequences.map { NaiveBert(t).embed($0, cls: true) })
    }
    for (g, w) in zip(got, want) { #expect(zip(g, w).map { abs(Double($0) - $1) }.max()! < 1e-5) }
  }

  /// Packed sequences must not see each other: together or one by one, the same vectors.
  @Test func packingIsolatesSequences() throws {
    try withFolder(TinyBert()) { dir in
      let bert = try Bert(folder: dir)
      let together = try bert.embed(tokens: Self.sequences)
      for (i, s) in Self.sequences.enumerated() {
        let alone = try bert.embed(tokens: [s])[0]
        #expect(zip(alone, together[i]).map { abs($0 - $1) }.max()! < 1e-6)
      }
      #expect(cosine(together[0], together[3]) < 0.999)
    }
  }

  @Test(arguments: ["F16", "BF16"])
  func halfPrecisionWeights(_ dtype: String) throws {
    var t = TinyBert()
    t.dtype = dtype
    let got = try withFolder(t) { try Bert(folder: $0).embed(tokens: Self.sequences) }
    for (g, s) in zip(got, Self.sequences) { #expect(cosine(g, NaiveBert(TinyBert()).embed(s, cls: false)) > 0.99) }
  }

  /// safetensors does not align its data: weights at odd offsets are copied, with the same result.
  @Test func misalignedData() throws {
    var t = TinyBert()
    t.misalign = true
    let odd = try withFolder(t) { dir in
      let f = try SafeTensorsFile(path: dir + "/model.safetensors")
      #expect(f.dataOffset % 4 != 0)
      return try Bert(folder: dir).embed(tokens: Self.sequences)
    }
    let aligned = try withFolder(TinyBert()) { try Bert(folder: $0).embed(tokens: Self.sequences) }
    #expect(odd == aligned)
  }

  @Test func refusesBadInput() throws {
    try withFolder(TinyBert()) { dir in
      let bert = try Bert(folder: dir)
      #expect(throws: BertError.emptySequence(index: 1)) { try bert.embed(tokens: [[1], []]) }
      #expect(throws: BertError.tooManyTokens(index: 0, count: 13, limit: 12)) { try bert.embed(tokens: [Array(repeating: 1, count: 13)]) }
      #expect(throws: BertError.badToken(id: 20, vocab: 20)) { try bert.embed(tokens: [[1, 20]]) }
      #expect(throws: BertError.badToken(id: -1, vocab: 20)) { try bert.embed(tokens: [[-1]]) }
      #expect(try bert.embed(tokens: []).isEmpty)
    }
  }

  @Test func refusesBadTensors() throws {
    var t = TinyBert()
    t.overrides = ["encoder.layer.0.attention.self.distance_embedding.weight": ([4, 8], [Float](repeating: 0, count: 32))]
    try expectLoadError(t) { $0 == .unexpectedTensor("encoder.layer.0.attention.self.distance_embedding.weight") }
    t.overrides = ["encoder.layer.2.output.dense.bias": ([8], [Float](repeating: 0, count: 8))]
    try expectLoadError(t) { $0 == .unexpectedTensor("encoder.layer.2.output.dense.bias") }
    t.overrides = ["encoder.layer.1.intermediate.dense.bias": nil]
    try expectLoadError(t) { $0 == .missingTensor("blk.1.ffn_up.bias") }
    t.overrides = ["encoder.layer.0.attention.self.key.weight": ([8, 4], [Float](repeating: 0, count: 32))]
    try expectLoadError(t) { $0 == .tensorShape(tensor: "encoder.layer.0.attention.self.key.weight", expected: [8, 8], found: [8, 4]) }
    t.overrides = [:]
    t.config = ["max_position_embeddings": 16]
    try expectLoadError(t) { if case .tensorShape(let n, _, _) = $0 { n == "embeddings.position_embeddings.weight" } else { false } }
  }

  @Test func refusesBadConfig() throws {
    let cases: [([String: Any], (BertError) -> Bool)] = [
      (["hidden_act": "relu"], { if case .badConfig(_, let r) = $0 { r.contains("hidden_act") } else { false } }),
      (["model_type": "roberta"], { if case .badConfig(_, let r) = $0 { r.contains("roberta") } else { false } }),
      (["position_embedding_type": "relative_key"], { if case .badConfig = $0 { true } else { false } }),
      (["num_attention_heads": 3], { $0 == .badHyperparameter(key: "num_attention_heads", value: "3", reason: "must be 1...1024 and divide hidden_size") }),
      (["hidden_size": "8"], { if case .badConfig(_, let r) = $0 { r.contains("hidden_size") } else { false } }),
      (["num_hidden_layers": 0], { if case .badHyperparameter(let k, _, _) = $0 { k == "num_hidden_layers" } else { false } }),
      (["layer_norm_eps": -1], { if case .badHyperparameter(let k, _, _) = $0 { k == "layer_norm_eps" } else { false } }),
      (["vocab_size": 1e300], { if case .badConfig = $0 { true } else { false } }),
    ]
    for (cfg, match) in cases {
      var t = TinyBert()
      t.config = cfg
      try expectLoadError(t, match)
    }
    var t = TinyBert()
    t.modules = [["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
                 ["idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"],
                 ["idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"]]
    t.pooling = "mean"
    try expectLoadError(t) { if case .badConfig(_, let r) = $0 { r.contains("Dense") } else { false } }
    // A folder with no config.json at all.
    let dir = try Paths.tempDir()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect { try Bert(folder: dir) } throws: { if case .cannotRead = $0 as? BertError { true } else { false } }
  }

  @Test func readsSentenceTransformersFiles() throws {
    var t = TinyBert()
    t.pooling = "cls"
    t.modules = [["type": "sentence_transformers.models.Transformer", "path": ""],
                 ["type": "sentence_transformers.models.Pooling", "path": "1_Pooling"],
                 ["type": "sentence_transformers.models.Normalize", "path": "2_Normalize"]]
    let c = try withFolder(t) { dir in
      try #"{"max_seq_length": 8}"#.write(toFile: dir + "/sentence_bert_config.json", atomically: true, encoding: .utf8)
      return try BertConfig(folder: dir)
    }
    #expect(c.pooling == .cls && c.maxTokens == 8 && c.maxPositions == 12 && c.headDim == 4)
  }

  @Test func namesMapLikeLlamaCpp() throws {
    #expect(try BertNames.gguf(hf: "embeddings.word_embeddings.weight") == "token_embd.weight")
    #expect(try BertNames.gguf(hf: "bert.embeddings.LayerNorm.gamma") == "token_embd_norm.weight")
    #expect(try BertNames.gguf(hf: "encoder.layer.11.attention.output.LayerNorm.beta") == "blk.11.attn_output_norm.bias")
    #expect(try BertNames.gguf(hf: "encoder.layer.3.output.dense.weight") == "blk.3.ffn_down.weight")
    #expect(try BertNames.gguf(hf: "embeddings.position_ids") == nil)
    #expect(try BertNames.gguf(hf: "pooler.dense.bias") == nil)
    #expect(try BertNames.gguf(hf: "cls.predictions.bias") == nil)
    #expect(throws: BertError.unexpectedTensor("encoder.layer.01.output.dense.weight")) { try BertNames.gguf(hf: "encoder.layer.01.output.dense.weight") }
    #expect(throws: BertError.unexpectedTensor("encoder.layer.0.output.dense.scale")) { try BertNames.gguf(hf: "encoder.layer.0.output.dense.scale") }
    #expect(throws: BertError.unexpectedTensor("decoder.weight")) { try BertNames.gguf(hf: "decoder.weight") }
  }
}

/// BERT written straight from the equations, in Double, over the tiny model's weights.
struct NaiveBert {
  let t: TinyBert
  let w: [String: [Double]]

  init(_ t: TinyBert) {
    self.t = t
    var w: [String: [Double]] = [:]
    for x in t.tensors() { w[x.name] = x.floats.map(Double.init) }
    self.w = w
  }

  func layerNorm(_ x: [Double], _ name: String) -> [Double] {
    let mean = x.reduce(0, +) / Double(x.count)
    let variance = x.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(x.count)
    let g = w[name + ".weight"]!, b = w[name + ".bias"]!
    return x.indices.map { (x[$0] - mean) / (variance + 1e-12).squareRoot() * g[$0] + b[$0] }
  }

  /// y = W x + b with W stored (out, in) row-major, as PyTorch's Linear.
  func dense(_ x: [Double], _ name: String) -> [Double] {
    let m = w[name + ".weight"]!, b = w[name + ".bias"]!
    return b.indices.map { r in b[r] + x.indices.reduce(0) { $0 + m[r * x.count + $1] * x[$1] } }
  }

  func embed(_ ids: [Int], cls: Bool) -> [Double] {
    let d = t.dim, hd = d / t.heads
    var h = ids.enumerated().map { p, id in
      layerNorm((0..<d).map { w["embeddings.word_embeddings.weight"]![id * d + $0] + w["embeddings.position_embeddings.weight"]![p * d + $0]
        + w["embeddings.token_type_embeddings.weight"]![$0] }, "embeddings.LayerNorm")
    }
    for l in 0..<t.layers {
      let p = "encoder.layer.\(l)."
      let q = h.map { dense($0, p + "attention.self.query") }, k = h.map { dense($0, p + "attention.self.key") }
      let v = h.map { dense($0, p + "attention.self.value") }
      let att: [[Double]] = h.indices.map { i in
        var out = [Double](repeating: 0, count: d)
        for head in 0..<t.heads {
          let r = (head * hd)..<((head + 1) * hd)
          let s = h.indices.map { j in r.reduce(0) { $0 + q[i][$1] * k[j][$1] } / Double(hd).squareRoot() }
          let e = s.map { exp($0 - s.max()!) }, z = e.reduce(0, +)
          for j in h.indices { for c in r { out[c] += e[j] / z * v[j][c] } }
        }
        return out
      }
      h = h.indices.map { i in layerNorm(zip(h[i], dense(att[i], p + "attention.output.dense")).map(+), p + "attention.output.LayerNorm") }
      h = h.map { x in
        let up = dense(x, p + "intermediate.dense").map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
        return layerNorm(zip(x, dense(up, p + "output.dense")).map(+), p + "output.LayerNorm")
      }
    }
    let pooled = cls ? h[0] : (0..<d).map { c in h.reduce(0) { $0 + $1[c] } / Double(h.count) }
    let n = pooled.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return pooled.map { $0 / n }
  }
}

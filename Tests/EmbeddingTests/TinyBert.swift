import Foundation

/// A small random BERT written as a Hugging Face folder, so that loading rules and the forward
/// pass's structure (packing, pooling, dtypes) can be tested without the real model.
struct TinyBert {
  var vocab = 20, dim = 8, layers = 2, heads = 2, ffn = 16, positions = 12, types = 2
  var config: [String: Any] = [:]
  /// Extra or replaced tensors (name → (shape, floats)); a nil value removes the tensor.
  var overrides: [String: ([Int], [Float])?] = [:]
  var dtype = "F32"
  /// Leaves the data section at an odd file offset, so no weight is aligned for its type.
  var misalign = false
  var pooling: String? = nil  // "mean" or "cls": writes modules.json and 1_Pooling/config.json
  var modules: [[String: Any]]? = nil

  var baseConfig: [String: Any] {
    [
      "model_type": "bert", "hidden_act": "gelu", "hidden_size": dim, "num_hidden_layers": layers,
      "num_attention_heads": heads, "intermediate_size": ffn, "max_position_embeddings": positions,
      "vocab_size": vocab, "type_vocab_size": types, "layer_norm_eps": 1e-12,
    ]
  }

  func tensors() -> [(name: String, shape: [Int], floats: [Float])] {
    var rng = Xorshift(seed: 42)
    func rand(_ shape: [Int], scale: Float = 0.5) -> [Float] { (0..<shape.reduce(1, *)).map { _ in rng.next() * scale } }
    func ones(_ n: Int) -> [Float] { (0..<n).map { _ in 1 + rng.next() * 0.1 } }
    var t: [(String, [Int], [Float])] = [
      ("embeddings.word_embeddings.weight", [vocab, dim], rand([vocab, dim])),
      ("embeddings.position_embeddings.weight", [positions, dim], rand([positions, dim])),
      ("embeddings.token_type_embeddings.weight", [types, dim], rand([types, dim])),
      ("embeddings.LayerNorm.weight", [dim], ones(dim)), ("embeddings.LayerNorm.bias", [dim], rand([dim], scale: 0.1)),
    ]
    for l in 0..<layers {
      let p = "encoder.layer.\(l)."
      for m in ["attention.self.query", "attention.self.key", "attention.self.value", "attention.output.dense"] {
        t.append((p + m + ".weight", [dim, dim], rand([dim, dim])))
        t.append((p + m + ".bias", [dim], rand([dim], scale: 0.1)))
      }
      t.append((p + "attention.output.LayerNorm.weight", [dim], ones(dim)))
      t.append((p + "attention.output.LayerNorm.bias", [dim], rand([dim], scale: 0.1)))
      t.append((p + "intermediate.dense.weight", [ffn, dim], rand([ffn, dim])))
      t.append((p + "intermediate.dense.bias", [ffn], rand([ffn], scale: 0.1)))
      t.append((p + "output.dense.weight", [dim, ffn], rand([dim, ffn])))
      t.append((p + "output.dense.bias", [dim], rand([dim], scale: 0.1)))
      t.append((p + "output.LayerNorm.weight", [dim], ones(dim)))
      t.append((p + "output.LayerNorm.bias", [dim], rand([dim], scale: 0.1)))
    }
    t.append(("pooler.dense.weight", [dim, dim], rand([dim, dim])))  // unused by an encoder: skipped
    var out: [(name: String, shape: [Int], floats: [Float])] = []
    for (n, s, f) in t {
      if let o = overrides[n] {
        if let (s2, f2) = o { out.append((n, s2, f2)) }
      } else {
        out.append((n, s, f))
      }
    }
    for (n, o) in overrides.sorted(by: { $0.key < $1.key }) where !t.contains(where: { $0.0 == n }) {
      if let (s, f) = o { out.append((n, s, f)) }
    }
    return out
  }

  /// Writes the folder and returns its path.
  func write() throws -> String {
    let dir = try Paths.tempDir()
    var cfg = baseConfig
    for (k, v) in config { cfg[k] = v }
    try JSONSerialization.data(withJSONObject: cfg).write(to: URL(fileURLWithPath: dir + "/config.json"))
    var raw = RawSafeTensors.make(tensors(), dtype: dtype, pad: misalign ? 1 : 8)
    while misalign && (8 + raw.header.utf8.count) % 8 != 1 { raw.header += " " }
    try raw.write(to: dir + "/model.safetensors")
    if let pooling {
      try FileManager.default.createDirectory(atPath: dir + "/1_Pooling", withIntermediateDirectories: true)
      let p: [String: Any] = [
        "word_embedding_dimension": dim, "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_cls_token": pooling == "cls",
      ]
      try JSONSerialization.data(withJSONObject: p).write(to: URL(fileURLWithPath: dir + "/1_Pooling/config.json"))
    }
    if let modules {
      try JSONSerialization.data(withJSONObject: modules).write(to: URL(fileURLWithPath: dir + "/modules.json"))
    }
    return dir
  }
}

/// Deterministic uniform values in [-1, 1).
struct Xorshift {
  var state: UInt64
  init(seed: UInt64) { state = seed &* 0x9E37_79B9_7F4A_7C15 | 1 }
  mutating func next() -> Float {
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

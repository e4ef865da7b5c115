import GGUF

public enum RoPEStyle: String, Sendable {
  /// Rotate adjacent pairs (x[2i], x[2i+1]): llama's GGUF layout.
  case normal
  /// Rotate halves (x[i], x[i + d/2]): GPT-NeoX, Qwen2, Gemma.
  case neox
}

/// Errors found while binding a GGUF to an architecture. Each names what is wrong.
public enum ModelError: Error, Equatable, Sendable, CustomStringConvertible {
  case unsupportedArchitecture(String)
  case missingArchitecture
  case badHyperparameter(key: String, value: String, reason: String)
  case gguf(GGUFError)
  case unsupportedTensorType(tensor: String, type: String)
  case outOfCache(needed: Int, available: Int)
  case tooManyTokens(count: Int, limit: Int)
  case badToken(id: Int, vocab: Int)
  case badPosition(Int)

  public var description: String {
    switch self {
    case .unsupportedArchitecture(let a): return "unsupported architecture '\(a)' (supported: \(Architectures.names.joined(separator: ", ")))"
    case .missingArchitecture: return "missing metadata key 'general.architecture'"
    case .badHyperparameter(let k, let v, let r): return "bad hyperparameter \(k) = \(v): \(r)"
    case .gguf(let e): return e.description
    case .unsupportedTensorType(let t, let ty): return "tensor '\(t)' has type \(ty), which this engine cannot compute with"
    case .outOfCache(let n, let a): return "KV cache full: need \(n) blocks, \(a) free"
    case .tooManyTokens(let n, let l): return "batch of \(n) tokens exceeds the limit of \(l)"
    case .badToken(let id, let v): return "token id \(id) is outside the vocabulary (0..<\(v))"
    case .badPosition(let p): return "position \(p) is out of range"
    }
  }
}

/// Hyperparameters of a decoder-only transformer, read from `<arch>.*` metadata keys.
public struct ModelConfig: Sendable {
  public var architecture: String
  public var layers: Int
  public var dim: Int
  public var ffnDim: Int
  public var heads: Int
  public var kvHeads: Int
  public var headDim: Int
  public var vocabSize: Int
  public var contextLength: Int
  public var rmsEps: Float
  public var ropeBase: Double
  public var ropeDim: Int
  public var ropeStyle: RoPEStyle
  /// Gemma 3: local layers use their own RoPE base and attend to a window of recent positions.
  public var ropeBaseLocal: Double? = nil
  public var slidingWindow: Int? = nil
  /// A layer is local (sliding) unless `(layer + 1) % pattern == 0`.
  public var slidingPattern: Int? = nil
  public var attentionScale: Float
  public var embeddingScale: Float? = nil

  public var qDim: Int { heads * headDim }
  public var kvDim: Int { kvHeads * headDim }

  public func isSliding(layer: Int) -> Bool {
    guard let p = slidingPattern, slidingWindow != nil else { return false }
    return (layer + 1) % p != 0
  }

  /// Reads the keys every decoder shares and checks them against sane bounds before anything is allocated.
  public init(gguf f: GGUFFile, ropeStyle: RoPEStyle) throws(ModelError) {
    guard let arch = f.architecture else { throw .missingArchitecture }
    architecture = arch
    func int(_ k: String, _ def: Int? = nil) throws(ModelError) -> Int {
      let key = "\(arch).\(k)"
      guard let v = f.metadata[key] else {
        if let def { return def }
        throw .gguf(.missingKey(key))
      }
      guard let i = v.int else { throw .gguf(.wrongValueType(key: key, expected: "an integer")) }
      return i
    }
    func dbl(_ k: String, _ def: Double) throws(ModelError) -> Double {
      let key = "\(arch).\(k)"
      guard let v = f.metadata[key] else { return def }
      guard let d = v.double else { throw .gguf(.wrongValueType(key: key, expected: "a number")) }
      return d
    }
    layers = try int("block_count")
    dim = try int("embedding_length")
    ffnDim = try int("feed_forward_length")
    heads = try int("attention.head_count")
    kvHeads = try int("attention.head_count_kv", heads)
    headDim = try int("attention.key_length", heads > 0 ? dim / heads : 0)
    contextLength = try int("context_length", 2048)
    rmsEps = Float(try dbl("attention.layer_norm_rms_epsilon", 1e-5))
    ropeBase = try dbl("rope.freq_base", 10000)
    ropeDim = try int("rope.dimension_count", headDim)
    self.ropeStyle = ropeStyle
    let tokens = f.array("tokenizer.ggml.tokens")?.count
    if let tokens { vocabSize = tokens } else { vocabSize = try int("vocab_size", f.tensor(named: "token_embd.weight")?.dims.last ?? 0) }
    attentionScale = 1 / Float(headDim).squareRoot()

    func check(_ ok: Bool, _ key: String, _ value: Int, _ reason: String) throws(ModelError) {
      if !ok { throw .badHyperparameter(key: "\(arch).\(key)", value: String(value), reason: reason) }
    }
    try check((1...1024).contains(layers), "block_count", layers, "must be 1...1024")
    try check((1...65536).contains(dim), "embedding_length", dim, "must be 1...65536")
    try check((1...262_144).contains(ffnDim), "feed_forward_length", ffnDim, "must be 1...262144")
    try check((1...1024).contains(heads), "attention.head_count", heads, "must be 1...1024")
    try check(kvHeads >= 1 && heads % kvHeads == 0, "attention.head_count_kv", kvHeads, "must divide head_count")
    try check((2...1024).contains(headDim) && headDim % 2 == 0, "attention.key_length", headDim, "must be even, 2...1024")
    try check(ropeDim >= 2 && ropeDim <= headDim && ropeDim % 2 == 0, "rope.dimension_count", ropeDim, "must be even and at most the head size")
    try check(contextLength >= 1, "context_length", contextLength, "must be positive")
    try check((1...4_194_304).contains(vocabSize), "vocab_size", vocabSize, "must be 1...4194304")
    guard ropeBase > 0, ropeBase.isFinite else {
      throw .badHyperparameter(key: "\(arch).rope.freq_base", value: "\(ropeBase)", reason: "must be positive")
    }
    guard rmsEps > 0, rmsEps.isFinite else {
      throw .badHyperparameter(key: "\(arch).attention.layer_norm_rms_epsilon", value: "\(rmsEps)", reason: "must be positive")
    }
  }
}

import Foundation
import GGUF

/// Hyperparameters of a BERT encoder, from a Hugging Face / sentence-transformers folder
/// (config.json, sentence_bert_config.json, modules.json, the Pooling module's config.json) or
/// from a GGUF's `bert.*` keys. Checked against sane bounds before anything is allocated.
public struct BertConfig: Sendable, Equatable {
  public var vocabSize: Int
  public var dim: Int
  public var layers: Int
  public var heads: Int
  public var ffnDim: Int
  /// Rows of the position table: the longest sequence the model can compute.
  public var maxPositions: Int
  public var typeVocabSize: Int
  public var layerNormEps: Double
  public var pooling: Pooling
  /// sentence-transformers' `max_seq_length`: texts are truncated to this many tokens
  /// ([CLS] and [SEP] included), which may be less than `maxPositions` (256 vs 512 for MiniLM).
  public var maxTokens: Int

  public var headDim: Int { dim / heads }

  /// GGUF keys Hearth adds to llama.cpp's set (llama.cpp ignores keys it does not know).
  public static let maxTokensKey = "hearth.embedding.max_seq_length"

  public init(
    vocabSize: Int, dim: Int, layers: Int, heads: Int, ffnDim: Int, maxPositions: Int, typeVocabSize: Int,
    layerNormEps: Double, pooling: Pooling, maxTokens: Int
  ) throws(BertError) {
    self.vocabSize = vocabSize
    self.dim = dim
    self.layers = layers
    self.heads = heads
    self.ffnDim = ffnDim
    self.maxPositions = maxPositions
    self.typeVocabSize = typeVocabSize
    self.layerNormEps = layerNormEps
    self.pooling = pooling
    self.maxTokens = maxTokens
    try validate()
  }

  func validate() throws(BertError) {
    func check(_ ok: Bool, _ key: String, _ value: Int, _ reason: String) throws(BertError) {
      if !ok { throw .badHyperparameter(key: key, value: String(value), reason: reason) }
    }
    try check((1...4_194_304).contains(vocabSize), "vocab_size", vocabSize, "must be 1...4194304")
    try check((1...65536).contains(dim), "hidden_size", dim, "must be 1...65536")
    try check((1...1024).contains(layers), "num_hidden_layers", layers, "must be 1...1024")
    try check((1...1024).contains(heads) && dim % heads == 0, "num_attention_heads", heads, "must be 1...1024 and divide hidden_size")
    try check((1...262_144).contains(ffnDim), "intermediate_size", ffnDim, "must be 1...262144")
    try check((1...65536).contains(maxPositions), "max_position_embeddings", maxPositions, "must be 1...65536")
    try check((1...1024).contains(typeVocabSize), "type_vocab_size", typeVocabSize, "must be 1...1024")
    try check((3...maxPositions).contains(maxTokens), "max_seq_length", maxTokens, "must be 3...max_position_embeddings")
    guard layerNormEps > 0, layerNormEps < 1, layerNormEps.isFinite else {
      throw .badHyperparameter(key: "layer_norm_eps", value: "\(layerNormEps)", reason: "must be in (0, 1)")
    }
  }

  // MARK: - From a Hugging Face folder

  /// Reads `folder`'s config.json and, when present, the sentence-transformers files that set
  /// pooling and truncation. Modules other than Transformer, Pooling and Normalize (a Dense
  /// projection, say) are refused: their output would silently differ from sentence-transformers.
  public init(folder: String) throws(BertError) {
    let cfgPath = folder + "/config.json"
    let cfg = try Self.readObject(cfgPath)
    func int(_ key: String, _ def: Int? = nil) throws(BertError) -> Int {
      guard let v = cfg[key] else {
        if let def { return def }
        throw .badConfig(file: cfgPath, reason: "missing '\(key)'")
      }
      guard let i = Self.integer(v) else { throw .badConfig(file: cfgPath, reason: "'\(key)' must be an integer") }
      return i
    }
    func string(_ key: String) -> String? { cfg[key] as? String }
    if let t = string("model_type"), t != "bert" { throw .badConfig(file: cfgPath, reason: "model_type '\(t)' is not supported (bert only)") }
    if let act = string("hidden_act"), act != "gelu" {
      throw .badConfig(file: cfgPath, reason: "hidden_act '\(act)' is not supported (BERT's exact erf 'gelu' only)")
    }
    if let p = string("position_embedding_type"), p != "absolute" {
      throw .badConfig(file: cfgPath, reason: "position_embedding_type '\(p)' is not supported (absolute only)")
    }
    var eps = 1e-12
    if let v = cfg["layer_norm_eps"] {
      guard let n = v as? NSNumber else { throw .badConfig(file: cfgPath, reason: "'layer_norm_eps' must be a number") }
      eps = n.doubleValue
    }
    let positions = try int("max_position_embeddings")
    let (pooling, maxTokens) = try Self.sentenceTransformers(folder: folder, positions: positions, dim: try int("hidden_size"))
    try self.init(
      vocabSize: try int("vocab_size"), dim: try int("hidden_size"), layers: try int("num_hidden_layers"),
      heads: try int("num_attention_heads"), ffnDim: try int("intermediate_size"), maxPositions: positions,
      typeVocabSize: try int("type_vocab_size", 2), layerNormEps: eps, pooling: pooling, maxTokens: maxTokens)
  }

  /// Pooling and truncation from the sentence-transformers files; mean pooling over all
  /// positions when the folder is a plain Hugging Face BERT.
  private static func sentenceTransformers(folder: String, positions: Int, dim: Int) throws(BertError) -> (Pooling, Int) {
    var maxTokens = positions
    let stPath = folder + "/sentence_bert_config.json"
    if FileManager.default.fileExists(atPath: stPath), let v = try readObject(stPath)["max_seq_length"] {
      guard let i = integer(v) else { throw .badConfig(file: stPath, reason: "'max_seq_length' must be an integer") }
      maxTokens = min(i, positions)
    }
    var poolingDir: String? = FileManager.default.fileExists(atPath: folder + "/1_Pooling/config.json") ? "1_Pooling" : nil
    let modulesPath = folder + "/modules.json"
    if FileManager.default.fileExists(atPath: modulesPath) {
      poolingDir = nil
      for m in try readArray(modulesPath) {
        guard let type = m["type"] as? String else { throw .badConfig(file: modulesPath, reason: "a module has no 'type'") }
        switch type.split(separator: ".").last.map(String.init) ?? type {
        case "Transformer", "Normalize": continue
        case "Pooling": poolingDir = m["path"] as? String ?? ""
        default: throw .badConfig(file: modulesPath, reason: "module '\(type)' is not supported (Transformer, Pooling, Normalize only)")
        }
      }
    }
    guard let poolingDir else { return (.mean, maxTokens) }
    let poolPath = folder + "/" + poolingDir + "/config.json"
    let p = try readObject(poolPath)
    if let v = p["word_embedding_dimension"], let d = integer(v), d != dim {
      throw .badConfig(file: poolPath, reason: "word_embedding_dimension \(d) differs from hidden_size \(dim)")
    }
    func on(_ k: String) -> Bool { (p[k] as? Bool) ?? false }
    let others = ["pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"]
    if let other = others.first(where: on) { throw .badConfig(file: poolPath, reason: "\(other) is not supported (mean or cls only)") }
    switch (on("pooling_mode_mean_tokens"), on("pooling_mode_cls_token"), p["pooling_mode"] as? String) {
    case (true, false, _), (false, false, "mean"): return (.mean, maxTokens)
    case (false, true, _), (false, false, "cls"): return (.cls, maxTokens)
    default: throw .badConfig(file: poolPath, reason: "exactly one of mean or cls pooling must be on")
    }
  }

  /// A JSON number that is a whole number. (Foundation cannot tell `true` from 1 here; a
  /// boolean where a size belongs then fails the range checks.)
  static func integer(_ v: Any) -> Int? {
    guard let n = v as? NSNumber else { return nil }
    return Int(exactly: n.doubleValue)
  }

  /// Config files are small; anything over 16 MB is not one.
  static let maxConfigBytes = 16 << 20

  static func readJSON(_ path: String) throws(BertError) -> Any {
    guard FileManager.default.fileExists(atPath: path) else { throw .cannotRead(path: path, reason: "no such file") }
    let data: Data
    do {
      let attrs = try FileManager.default.attributesOfItem(atPath: path)
      if let size = attrs[.size] as? Int, size > maxConfigBytes { throw BertError.badConfig(file: path, reason: "file is over \(maxConfigBytes) bytes") }
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch let e as BertError {
      throw e
    } catch {
      throw .cannotRead(path: path, reason: (error as NSError).localizedDescription)
    }
    do { return try JSONSerialization.jsonObject(with: data) } catch { throw .badConfig(file: path, reason: "not valid JSON") }
  }

  static func readObject(_ path: String) throws(BertError) -> [String: Any] {
    guard let o = try readJSON(path) as? [String: Any] else { throw .badConfig(file: path, reason: "not a JSON object") }
    return o
  }

  static func readArray(_ path: String) throws(BertError) -> [[String: Any]] {
    guard let a = try readJSON(path) as? [[String: Any]] else { throw .badConfig(file: path, reason: "not a JSON array of objects") }
    return a
  }

  // MARK: - GGUF

  /// Reads llama.cpp's `bert.*` keys. The vocabulary size comes from the token embedding.
  public init(gguf f: GGUFFile) throws(BertError) {
    guard let arch = f.architecture else { throw .gguf(.missingKey("general.architecture")) }
    guard arch == "bert" else { throw .notBert(architecture: arch) }
    func int(_ k: String, _ def: Int? = nil) throws(BertError) -> Int {
      guard f.metadata[k] != nil || def == nil else { return def! }
      do { return try f.requireInt(k) } catch { throw .gguf(error) }
    }
    guard let embd = f.tensor(named: "token_embd.weight"), embd.dims.count == 2 else { throw .missingTensor("token_embd.weight") }
    let positions = try int("bert.context_length")
    var eps = 1e-12
    if f.metadata["bert.attention.layer_norm_epsilon"] != nil {
      do { eps = try f.requireDouble("bert.attention.layer_norm_epsilon") } catch { throw .gguf(error) }
    }
    let poolingValue = try int("bert.pooling_type", 1)
    guard let pooling = Pooling(ggufValue: poolingValue) else {
      throw .badHyperparameter(key: "bert.pooling_type", value: String(poolingValue), reason: "only 1 (mean) and 2 (cls) are supported")
    }
    if f.bool("bert.attention.causal") == true {
      throw .badHyperparameter(key: "bert.attention.causal", value: "true", reason: "a BERT encoder attends both ways")
    }
    try self.init(
      vocabSize: embd.dims[1], dim: try int("bert.embedding_length"), layers: try int("bert.block_count"),
      heads: try int("bert.attention.head_count"), ffnDim: try int("bert.feed_forward_length"), maxPositions: positions,
      typeVocabSize: try int("tokenizer.ggml.token_type_count", 2), layerNormEps: eps, pooling: pooling,
      maxTokens: try int(Self.maxTokensKey, positions))
  }

  /// The metadata `init(gguf:)` reads, as llama.cpp's converter writes it (plus Hearth's
  /// truncation length).
  public var ggufMetadata: [(String, GGUFValue)] {
    [
      ("bert.context_length", .uint32(UInt32(maxPositions))),
      ("bert.embedding_length", .uint32(UInt32(dim))),
      ("bert.feed_forward_length", .uint32(UInt32(ffnDim))),
      ("bert.attention.head_count", .uint32(UInt32(heads))),
      ("bert.attention.layer_norm_epsilon", .float32(Float(layerNormEps))),
      ("bert.block_count", .uint32(UInt32(layers))),
      ("bert.attention.causal", .bool(false)),
      ("bert.pooling_type", .uint32(pooling.ggufValue)),
      ("tokenizer.ggml.token_type_count", .uint32(UInt32(typeVocabSize))),
      (Self.maxTokensKey, .uint32(UInt32(maxTokens))),
    ]
  }
}

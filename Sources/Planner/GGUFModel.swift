import GGUF

extension ModelSpec {
  /// Opens a GGUF and describes it: architecture numbers from the `<arch>.*` keys, parameters and
  /// bytes from the tensor table (so quant mixes such as Q4_K_M count as stored).
  public init(ggufPath path: String) throws(PlannerError) {
    let file: GGUFFile
    do { file = try GGUFFile(path: path) } catch { throw .badModelFile(path: path, error.description) }
    try self.init(gguf: file, path: path)
  }

  public init(gguf f: GGUFFile, path: String) throws(PlannerError) {
    guard let arch = f.architecture else { throw .badModelFile(path: path, "missing metadata key 'general.architecture'") }
    // Some architectures store per-layer arrays (e.g. head counts); the largest layer decides sizing.
    func int(_ key: String, default def: Int? = nil) throws(PlannerError) -> Int {
      let full = "\(arch).\(key)"
      guard let v = f[full] else {
        if let def { return def }
        throw .badModelFile(path: path, "missing metadata key '\(full)'")
      }
      if let i = v.int { return i }
      if let a = v.array?.ints, let m = a.max() { return m }
      throw .badModelFile(path: path, "metadata key '\(full)' is not an integer")
    }
    let layers = try int("block_count")
    let hidden = try int("embedding_length")
    let heads = try int("attention.head_count")
    let kvHeads = try int("attention.head_count_kv", default: heads)
    let headDim = try int("attention.key_length", default: heads > 0 ? hidden / heads : 0)
    let experts = try int("expert_count", default: 1)
    let active = try int("expert_used_count", default: 1)
    let window = f[arch + ".attention.sliding_window"]?.int
    let vocab = f.array("tokenizer.ggml.tokens")?.count ?? f.tensor(named: "token_embd.weight")?.dims.last ?? 0

    func check(_ ok: Bool, _ what: String) throws(PlannerError) {
      if !ok { throw .badModelFile(path: path, what) }
    }
    try check(layers >= 1 && hidden >= 1 && heads >= 1, "block_count, embedding_length and head_count must be positive")
    try check(kvHeads >= 1 && heads % kvHeads == 0, "attention.head_count_kv (\(kvHeads)) must divide head_count (\(heads))")
    try check(headDim >= 1, "attention.key_length must be positive")
    try check(experts >= 1 && active >= 1 && active <= experts, "expert_used_count must be 1...expert_count")
    try check(vocab >= 1, "no vocabulary (tokenizer.ggml.tokens or token_embd.weight)")

    var w = WeightBreakdown()
    var denseByType: [String: Double] = [:]
    for t in f.tensors {
      let n = t.elementCount, b = Double(t.byteCount)
      let part: WritableKeyPath<WeightBreakdown, WeightBreakdown.Part>
      switch t.name {
      case "token_embd.weight": part = \.embedding
      case "output.weight": part = \.output
      case let name where name.contains("_exps"): part = \.experts  // routed experts: ffn_{gate,up,down}_exps
      default:
        part = \.dense
        denseByType[t.type.name, default: 0] += b
      }
      w[keyPath: part].parameters += n
      w[keyPath: part].bytes += b
      if Self.packedTypes.contains(t.type.name) { w[keyPath: part].packedBytes += b }
    }
    w.mainType = denseByType.max { $0.value < $1.value }?.key
    w.fileType = f.int("general.file_type").flatMap { Self.llamaFileTypes[$0] }

    let base = path.split(separator: "/").last.map(String.init) ?? path
    self.init(
      name: f.string("general.name") ?? base, family: arch, layers: layers, hidden: hidden, heads: heads,
      kvHeads: kvHeads, headDim: headDim, vocab: vocab, ffn: try int("feed_forward_length"),
      experts: experts, activeExperts: active, tiedEmbeddings: f.tensor(named: "output.weight") == nil,
      maxContext: try int("context_length", default: 2048), slidingWindow: window,
      // llama.cpp hard-codes Gemma 3's pattern (five local layers, then a global one); GGUF doesn't store it.
      slidingPattern: window != nil && arch == "gemma3" ? 6 : nil,
      attentionBias: f.tensor(named: "blk.0.attn_q.bias") != nil, stored: w)
  }

  /// Block formats of 2 to 6 bits per weight (see `WeightBreakdown.Part.packedBytes`).
  static let packedTypes: Set<String> = ["Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K", "IQ4_NL", "IQ4_XS"]

  /// llama.cpp's `general.file_type` values (enum llama_ftype) for the common mixes: a Q4_K_M file
  /// holds Q4_K, Q5_0, Q6_K and Q8_0 tensors, and its name is what people call it.
  static let llamaFileTypes: [Int: String] = [
    0: "F32", 1: "F16", 2: "Q4_0", 3: "Q4_1", 7: "Q8_0", 8: "Q5_0", 9: "Q5_1", 10: "Q2_K", 11: "Q3_K_S",
    12: "Q3_K_M", 13: "Q3_K_L", 14: "Q4_K_S", 15: "Q4_K_M", 16: "Q5_K_S", 17: "Q5_K_M", 18: "Q6_K", 32: "BF16",
  ]

  /// The prefill arithmetic for this spec's stored tensors: f16 for float files, int8 for quants.
  public var storedPrecision: ComputePrecision {
    switch stored?.mainType {
    case "F16", "BF16", "F32": return .fp16
    default: return .int8
    }
  }
}

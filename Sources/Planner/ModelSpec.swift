#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The architecture numbers the planner needs, from a preset or a GGUF file's metadata.
///
/// Everything here describes a decoder-only transformer with gated (SwiGLU/GeGLU) FFNs, which covers
/// every preset; a MoE model has `experts` FFNs per layer of which `activeExperts` run per token.
public struct ModelSpec: Sendable, Equatable, Codable {
  public var name: String
  /// Architecture family as GGUF names it: `llama`, `qwen2`, `gemma3`.
  public var family: String
  public var layers: Int
  public var hidden: Int
  public var heads: Int
  public var kvHeads: Int
  public var headDim: Int
  public var vocab: Int
  /// FFN inner size (per expert for MoE).
  public var ffn: Int
  public var experts: Int
  public var activeExperts: Int
  public var tiedEmbeddings: Bool
  public var maxContext: Int
  /// Local (sliding-window) layers see only this many recent tokens; nil when every layer is global.
  public var slidingWindow: Int?
  /// Every `slidingPattern`-th layer is global (Gemma 3: 6, i.e. five local then one global).
  public var slidingPattern: Int?
  /// Qwen2 puts biases on the q, k and v projections.
  public var attentionBias: Bool
  /// What a GGUF file actually holds, when the spec came from one.
  public var stored: WeightBreakdown?

  public init(
    name: String, family: String, layers: Int, hidden: Int, heads: Int, kvHeads: Int, headDim: Int? = nil,
    vocab: Int, ffn: Int, experts: Int = 1, activeExperts: Int = 1, tiedEmbeddings: Bool, maxContext: Int,
    slidingWindow: Int? = nil, slidingPattern: Int? = nil, attentionBias: Bool = false, stored: WeightBreakdown? = nil
  ) {
    self.name = name
    self.family = family
    self.layers = layers
    self.hidden = hidden
    self.heads = heads
    self.kvHeads = kvHeads
    self.headDim = headDim ?? hidden / max(heads, 1)
    self.vocab = vocab
    self.ffn = ffn
    self.experts = experts
    self.activeExperts = activeExperts
    self.tiedEmbeddings = tiedEmbeddings
    self.maxContext = maxContext
    self.slidingWindow = slidingWindow
    self.slidingPattern = slidingPattern
    self.attentionBias = attentionBias
    self.stored = stored
  }

  public var qDim: Int { heads * headDim }
  public var kvDim: Int { kvHeads * headDim }
  public var isMoE: Bool { experts > 1 }

  /// Layers that attend to the whole context.
  public var globalLayers: Int {
    guard let p = slidingPattern, p > 0, slidingWindow != nil else { return layers }
    return layers / p
  }
  public var localLayers: Int { layers - globalLayers }

  // MARK: - Parameters by role

  /// Parameter counts from the architecture numbers alone.
  public var architectureParameters: WeightBreakdown {
    let attention = hidden * qDim + 2 * hidden * kvDim + qDim * hidden + (attentionBias ? qDim + 2 * kvDim : 0)
    // Gemma 3 norms the input and output of both attention and FFN, and q and k per head.
    let norms = family == "gemma3" ? 4 * hidden + 2 * headDim : 2 * hidden
    let oneFFN = 3 * hidden * ffn  // gate, up: (ffn, hidden); down: (hidden, ffn)
    let router = isMoE ? hidden * experts : 0
    let densePerLayer = attention + norms + router + (isMoE ? 0 : oneFFN)
    let expertPerLayer = isMoE ? experts * oneFFN : 0
    var w = WeightBreakdown()
    w.embedding.parameters = vocab * hidden
    w.output.parameters = tiedEmbeddings ? 0 : vocab * hidden
    w.dense.parameters = layers * densePerLayer + hidden  // + final norm
    w.experts.parameters = layers * expertPerLayer
    return w
  }

  /// Parameters and bytes in `format`, or the GGUF's own tensors when `format` is nil.
  public func weights(_ format: WeightFormat?) throws(PlannerError) -> WeightBreakdown {
    if let format {
      var w = stored ?? architectureParameters
      w.requantize(bytesPerParameter: format.bytesPerParameter, packed: format.bytesPerParameter < 1)  // Q4_K, INT4
      return w
    }
    guard let stored else {
      throw .invalid(field: "--weights", "is required for a preset (F16, BF16, Q8_0, Q4_K, INT8, INT4 or FP8)")
    }
    return stored
  }

  // MARK: - KV cache

  /// Classic full-attention figure: layers × KV heads × head dim × 2 (K and V) × bytes.
  public func kvBytesPerToken(_ type: KVCacheType) -> Double {
    Double(layers * kvHeads * headDim * 2) * type.bytesPerElement
  }

  /// KV bytes one sequence of `context` tokens keeps. Local layers keep only their window, as
  /// llama.cpp's SWA cache and vLLM's hybrid allocator do.
  public func kvBytesPerSequence(context: Int, _ type: KVCacheType) -> Double {
    Double(attendedPositions(context: context) * kvHeads * headDim * 2) * type.bytesPerElement
  }

  /// Σ over layers of the positions a token at `context` attends to.
  public func attendedPositions(context: Int) -> Int {
    let window = slidingWindow.map { min($0, context) } ?? context
    return globalLayers * context + localLayers * window
  }

  // MARK: - FLOPs

  /// FLOPs per generated token at `context`: 2 per weight of every matmul that runs (the output
  /// projection included) plus attention (QKᵀ and AV: 4 × heads × head dim per attended position).
  public func decodeFLOPs(context: Int, weights w: WeightBreakdown) -> Double {
    2 * (w.activeMatmulParameters(self) + Double(w.outputMatrix(self).parameters))
      + 4 * Double(heads * headDim) * Double(attendedPositions(context: context))
  }

  /// FLOPs per prompt token, averaged over a `prompt`-token prefill. Engines compute logits only
  /// for the last prompt token, so the output projection is spread over the prompt.
  public func prefillFLOPsPerToken(prompt: Int, weights w: WeightBreakdown) -> Double {
    let p = Double(max(prompt, 1))
    return 2 * w.activeMatmulParameters(self) + 2 * Double(w.outputMatrix(self).parameters) / p
      + 4 * Double(heads * headDim) * averageAttended(prompt: prompt)
  }

  /// Mean over positions 1...prompt of the attended positions summed over layers (causal mask).
  func averageAttended(prompt: Int) -> Double {
    let p = Double(max(prompt, 1))
    let global = (p + 1) / 2
    var local = global
    if let w0 = slidingWindow, w0 < prompt {
      let w = Double(w0)
      local = (w * (w + 1) / 2 + (p - w) * w) / p
    }
    return Double(globalLayers) * global + Double(localLayers) * local
  }
}

/// Parameters and bytes by the role that decides how often they are read.
public struct WeightBreakdown: Sendable, Equatable, Codable {
  public struct Part: Sendable, Equatable, Codable {
    public var parameters = 0
    public var bytes = 0.0
    /// Of `bytes`, those bit-packed (2- to 6-bit blocks: the legacy Q4/Q5 formats and the
    /// K-quants). CPU kernels stream 8-bit and float rows at nearly memory speed but spend
    /// instructions unpacking bits, so a calibration fits the two apart.
    public var packedBytes = 0.0
  }
  /// Token embeddings: one row is gathered per token, unless tied (then it is also the output matrix).
  public var embedding = Part()
  /// A separate output projection (vocab × hidden); zero when tied.
  public var output = Part()
  /// Attention, norms, routers and dense FFNs: read for every token.
  public var dense = Part()
  /// Routed experts of a MoE: a step reads only those its tokens chose.
  public var experts = Part()
  /// For a GGUF: the tensor type holding most dense bytes, e.g. `Q4_K`.
  public var mainType: String?
  /// For a GGUF: the file's quantization mix as llama.cpp names it, e.g. `Q4_K_M`.
  public var fileType: String?

  public init() {}

  public var parameters: Int { embedding.parameters + output.parameters + dense.parameters + experts.parameters }
  public var bytes: Double { embedding.bytes + output.bytes + dense.bytes + experts.bytes }
  /// Share (0...1) of the stored bytes that are bit-packed (`Part.packedBytes`).
  public var packedShare: Double {
    bytes > 0 ? (embedding.packedBytes + output.packedBytes + dense.packedBytes + experts.packedBytes) / bytes : 0
  }

  /// The matrix the last layer multiplies by: the embeddings when tied.
  public func outputMatrix(_ m: ModelSpec) -> Part { m.tiedEmbeddings ? embedding : output }

  /// Weights a token multiplies by, without the output projection: dense + its share of experts.
  public func activeMatmulParameters(_ m: ModelSpec) -> Double {
    Double(dense.parameters) + Double(experts.parameters) * Double(m.activeExperts) / Double(max(m.experts, 1))
  }

  /// Bytes one decode step over `batch` sequences reads: everything but the embedding table, with
  /// only the experts some token routed to. With uniform routing, `batch` tokens touch a fraction
  /// 1 − (1 − k/E)^batch of a layer's experts.
  public func decodeBytes(_ m: ModelSpec, batch: Int) -> Double { read(m, batch, \.bytes) }

  /// Of `decodeBytes`, those bit-packed.
  public func decodePackedBytes(_ m: ModelSpec, batch: Int) -> Double { read(m, batch, \.packedBytes) }

  private func read(_ m: ModelSpec, _ batch: Int, _ size: KeyPath<Part, Double>) -> Double {
    var touched = 1.0
    if m.isMoE {
      let miss = 1 - Double(m.activeExperts) / Double(m.experts)
      touched = 1 - pow(miss, Double(max(batch, 1)))
    }
    return dense[keyPath: size] + outputMatrix(m)[keyPath: size] + experts[keyPath: size] * touched
  }

  /// Every part in one format; `packed` for the bit-packed ones (Q4_K, INT4).
  mutating func requantize(bytesPerParameter b: Double, packed: Bool) {
    for p in [\WeightBreakdown.embedding, \.output, \.dense, \.experts] {
      self[keyPath: p].bytes = Double(self[keyPath: p].parameters) * b
      self[keyPath: p].packedBytes = packed ? self[keyPath: p].bytes : 0
    }
    mainType = nil
    fileType = nil
  }
}

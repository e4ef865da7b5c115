import GGUF
import Kernels

/// Gemma 3: embeddings scaled by sqrt(dim); RMSNorm on Q and K per head; norms after attention
/// and after the feed-forward as well as before; a GeGLU (tanh GELU) feed-forward; NeoX RoPE.
/// Five of every six layers are local: they attend to a sliding window with their own RoPE base.
/// The output projection is tied to the embedding.
///
/// The GGUF converter has already added Gemma's `1 +` to every norm weight, so norms multiply
/// by the stored weight as-is.
public final class Gemma3: LanguageModel, @unchecked Sendable {
  struct Layer {
    let attnNorm: UnsafePointer<Float>  // (dim)
    let wq: WeightMatrix  // (heads * headDim, dim)
    let wk: WeightMatrix  // (kvHeads * headDim, dim)
    let wv: WeightMatrix  // (kvHeads * headDim, dim)
    let qNorm: UnsafePointer<Float>  // (headDim)
    let kNorm: UnsafePointer<Float>  // (headDim)
    let wo: WeightMatrix  // (dim, heads * headDim)
    let postAttnNorm: UnsafePointer<Float>  // (dim)
    let ffnNorm: UnsafePointer<Float>  // (dim)
    let gate: WeightMatrix  // (ffnDim, dim)
    let up: WeightMatrix  // (ffnDim, dim)
    let down: WeightMatrix  // (dim, ffnDim)
    let postFfnNorm: UnsafePointer<Float>  // (dim)
  }

  public let config: ModelConfig
  public let file: GGUFFile
  let binder: TensorBinder
  let embedding: WeightMatrix  // (vocab, dim), also the output projection
  let layers: [Layer]
  let outputNorm: UnsafePointer<Float>  // (dim)
  let output: WeightMatrix
  let ropeGlobal: RoPE
  let ropeLocal: RoPE

  public init(file: GGUFFile) throws(ModelError) {
    var c = try ModelConfig(gguf: file, ropeStyle: .neox)
    let arch = c.architecture
    c.ropeBaseLocal = file.double("\(arch).rope.freq_base_swa") ?? 10_000
    c.slidingWindow = file.int("\(arch).attention.sliding_window") ?? 512
    c.slidingPattern = file.int("\(arch).attention.sliding_window_pattern") ?? 6
    c.embeddingScale = Float(c.dim).squareRoot()
    guard let w = c.slidingWindow, w >= 1 else {
      throw .badHyperparameter(key: "\(arch).attention.sliding_window", value: "\(c.slidingWindow ?? 0)", reason: "must be positive")
    }
    guard let p = c.slidingPattern, p >= 1 else {
      throw .badHyperparameter(key: "\(arch).attention.sliding_window_pattern", value: "\(c.slidingPattern ?? 0)", reason: "must be positive")
    }
    let b = TensorBinder(file: file)
    self.file = file
    config = c
    binder = b
    embedding = try b.matrix("token_embd.weight", cols: c.dim, rows: c.vocabSize)
    layers = try (0..<c.layers).map { i throws(ModelError) in
      let p = "blk.\(i)."
      return Layer(
        attnNorm: try b.vector(p + "attn_norm.weight", n: c.dim),
        wq: try b.matrix(p + "attn_q.weight", cols: c.dim, rows: c.qDim),
        wk: try b.matrix(p + "attn_k.weight", cols: c.dim, rows: c.kvDim),
        wv: try b.matrix(p + "attn_v.weight", cols: c.dim, rows: c.kvDim),
        qNorm: try b.vector(p + "attn_q_norm.weight", n: c.headDim),
        kNorm: try b.vector(p + "attn_k_norm.weight", n: c.headDim),
        wo: try b.matrix(p + "attn_output.weight", cols: c.qDim, rows: c.dim),
        postAttnNorm: try b.vector(p + "post_attention_norm.weight", n: c.dim),
        ffnNorm: try b.vector(p + "ffn_norm.weight", n: c.dim),
        gate: try b.matrix(p + "ffn_gate.weight", cols: c.dim, rows: c.ffnDim),
        up: try b.matrix(p + "ffn_up.weight", cols: c.dim, rows: c.ffnDim),
        down: try b.matrix(p + "ffn_down.weight", cols: c.ffnDim, rows: c.dim),
        postFfnNorm: try b.vector(p + "post_ffw_norm.weight", n: c.dim))
    }
    outputNorm = try b.vector("output_norm.weight", n: c.dim)
    output = try b.optionalMatrix("output.weight", cols: c.dim, rows: c.vocabSize) ?? embedding
    ropeGlobal = RoPE(dim: c.ropeDim, base: c.ropeBase, style: .neox)
    ropeLocal = RoPE(dim: c.ropeDim, base: c.ropeBaseLocal!, style: .neox)
  }

  public func forward(_ batch: Batch, cache: KVCache, state s: ForwardState) throws(ModelError) -> Int {
    try Decoder.prepare(batch, cache: cache, state: s)
    let c = config, n = batch.count
    Decoder.embed(embedding, batch, state: s, scale: c.embeddingScale)  // x: [B, dim]
    Decoder.ropeAngles(ropeGlobal, slot: 0, batch, state: s)
    Decoder.ropeAngles(ropeLocal, slot: 1, batch, state: s)
    for (l, w) in layers.enumerated() {
      let local = c.isSliding(layer: l)
      for i in 0..<n { Ops.rmsNorm(s.x + i * c.dim, w.attnNorm, s.xn + i * c.dim, n: c.dim, eps: c.rmsEps) }
      // q: [B, heads * headDim], k and v: [B, kvHeads * headDim]
      Decoder.linear((w.wq, s.q), (w.wk, s.k), (w.wv, s.v), x: s.xn, tokens: n, state: s)
      Ops.rmsNormRows(s.q, w.qNorm, rows: n * c.heads, n: c.headDim, eps: c.rmsEps)
      Ops.rmsNormRows(s.k, w.kNorm, rows: n * c.kvHeads, n: c.headDim, eps: c.rmsEps)
      Decoder.rope(local ? ropeLocal : ropeGlobal, slot: local ? 1 : 0, batch, state: s)
      Decoder.storeKV(layer: l, batch, cache: cache, state: s)
      Decoder.attend(layer: l, batch, cache: cache, state: s, window: local ? c.slidingWindow : nil)
      Decoder.linear(w.wo, s.att, s.proj, tokens: n, state: s)  // proj: [B, dim]
      for i in 0..<n { Ops.rmsNorm(s.proj + i * c.dim, w.postAttnNorm, s.proj + i * c.dim, n: c.dim, eps: c.rmsEps) }
      Ops.add(s.x, s.proj, n: n * c.dim)

      for i in 0..<n { Ops.rmsNorm(s.x + i * c.dim, w.ffnNorm, s.xn + i * c.dim, n: c.dim, eps: c.rmsEps) }
      Decoder.linear((w.gate, s.gate), (w.up, s.up), x: s.xn, tokens: n, state: s)  // gate, up: [B, ffnDim]
      Ops.geglu(s.gate, s.up, n: n * c.ffnDim)
      Decoder.linear(w.down, s.gate, s.proj, tokens: n, state: s)  // proj: [B, dim]
      for i in 0..<n { Ops.rmsNorm(s.proj + i * c.dim, w.postFfnNorm, s.proj + i * c.dim, n: c.dim, eps: c.rmsEps) }
      Ops.add(s.x, s.proj, n: n * c.dim)
    }
    Decoder.commit(batch, cache: cache)
    return Decoder.logits(norm: outputNorm, output: output, batch, state: s)
  }
}

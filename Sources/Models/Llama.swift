import GGUF
import Kernels

/// Llama (SmolLM2 and the Llama family): pre-norm blocks with RMSNorm, grouped-query attention
/// with RoPE on adjacent pairs, and a SwiGLU feed-forward.
public final class Llama: LanguageModel, @unchecked Sendable {
  struct Layer {
    let attnNorm: UnsafePointer<Float>  // (dim)
    let wq: WeightMatrix  // (heads * headDim, dim)
    let wk: WeightMatrix  // (kvHeads * headDim, dim)
    let wv: WeightMatrix  // (kvHeads * headDim, dim)
    let wo: WeightMatrix  // (dim, heads * headDim)
    let ffnNorm: UnsafePointer<Float>  // (dim)
    let gate: WeightMatrix  // (ffnDim, dim)
    let up: WeightMatrix  // (ffnDim, dim)
    let down: WeightMatrix  // (dim, ffnDim)
  }

  public let config: ModelConfig
  public let file: GGUFFile
  let binder: TensorBinder
  let embedding: WeightMatrix  // (vocab, dim)
  let layers: [Layer]
  let outputNorm: UnsafePointer<Float>  // (dim)
  let output: WeightMatrix  // (vocab, dim); the embedding when tied
  let rope: RoPE

  public init(file: GGUFFile) throws(ModelError) {
    let c = try ModelConfig(gguf: file, ropeStyle: .normal)
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
        wo: try b.matrix(p + "attn_output.weight", cols: c.qDim, rows: c.dim),
        ffnNorm: try b.vector(p + "ffn_norm.weight", n: c.dim),
        gate: try b.matrix(p + "ffn_gate.weight", cols: c.dim, rows: c.ffnDim),
        up: try b.matrix(p + "ffn_up.weight", cols: c.dim, rows: c.ffnDim),
        down: try b.matrix(p + "ffn_down.weight", cols: c.ffnDim, rows: c.dim))
    }
    outputNorm = try b.vector("output_norm.weight", n: c.dim)
    output = try b.optionalMatrix("output.weight", cols: c.dim, rows: c.vocabSize) ?? embedding
    rope = RoPE(dim: c.ropeDim, base: c.ropeBase, style: c.ropeStyle)
  }

  public func forward(_ batch: Batch, cache: KVCache, state s: ForwardState) throws(ModelError) -> Int {
    try Decoder.prepare(batch, cache: cache, state: s)
    let c = config, n = batch.count
    Decoder.embed(embedding, batch, state: s)  // x: [B, dim]
    Decoder.ropeAngles(rope, slot: 0, batch, state: s)
    for (l, w) in layers.enumerated() {
      for i in 0..<n { Ops.rmsNorm(s.x + i * c.dim, w.attnNorm, s.xn + i * c.dim, n: c.dim, eps: c.rmsEps) }
      // q: [B, heads * headDim], k and v: [B, kvHeads * headDim]
      Decoder.linear((w.wq, s.q), (w.wk, s.k), (w.wv, s.v), x: s.xn, tokens: n, state: s)
      Decoder.rope(rope, slot: 0, batch, state: s)
      Decoder.storeKV(layer: l, batch, cache: cache, state: s)
      Decoder.attend(layer: l, batch, cache: cache, state: s, window: nil)  // att: [B, heads * headDim]
      Decoder.linear(w.wo, s.att, s.proj, tokens: n, state: s)  // proj: [B, dim]
      Ops.add(s.x, s.proj, n: n * c.dim)

      for i in 0..<n { Ops.rmsNorm(s.x + i * c.dim, w.ffnNorm, s.xn + i * c.dim, n: c.dim, eps: c.rmsEps) }
      Decoder.linear((w.gate, s.gate), (w.up, s.up), x: s.xn, tokens: n, state: s)  // gate, up: [B, ffnDim]
      Ops.swiglu(s.gate, s.up, n: n * c.ffnDim)
      Decoder.linear(w.down, s.gate, s.proj, tokens: n, state: s)  // proj: [B, dim]
      Ops.add(s.x, s.proj, n: n * c.dim)
    }
    Decoder.commit(batch, cache: cache)
    return Decoder.logits(norm: outputNorm, output: output, batch, state: s)
  }
}

import Foundation
import GGUF
import Kernels

/// BERT, the encoder behind sentence-transformers models such as all-MiniLM-L6-v2.
///
/// Embeddings: word + position + token type (always type 0, one sentence), then LayerNorm.
/// Each layer is post-norm: x = LN(x + attention(x)), x = LN(x + FFN(x)), where attention is
/// bidirectional inside each sequence and the FFN is up, exact (erf) GELU, down, all with biases.
/// The sentence vector is the mean (or [CLS]) of the last hidden states, L2-normalised.
///
/// Sequences of one call are packed back to back into one batch of T tokens rather than padded:
/// the projections run once over all of them, and attention keeps each token inside its own
/// sequence, which is what the attention mask over padding achieves, without the padded work.
public final class Bert: EmbeddingModel, @unchecked Sendable {
  struct Layer {
    let wq: WeightMatrix  // (dim, dim)
    let bq: UnsafePointer<Float>  // (dim)
    let wk: WeightMatrix  // (dim, dim)
    let bk: UnsafePointer<Float>  // (dim)
    let wv: WeightMatrix  // (dim, dim)
    let bv: UnsafePointer<Float>  // (dim)
    let wo: WeightMatrix  // (dim, dim)
    let bo: UnsafePointer<Float>  // (dim)
    let attnNormW: UnsafePointer<Float>  // (dim)
    let attnNormB: UnsafePointer<Float>  // (dim)
    let up: WeightMatrix  // (ffnDim, dim)
    let bUp: UnsafePointer<Float>  // (ffnDim)
    let down: WeightMatrix  // (dim, ffnDim)
    let bDown: UnsafePointer<Float>  // (dim)
    let outNormW: UnsafePointer<Float>  // (dim)
    let outNormB: UnsafePointer<Float>  // (dim)
  }

  public let config: BertConfig
  public let mode: KernelMode
  let binder: BertBinder
  let tokenEmbedding: WeightMatrix  // (vocab, dim)
  let positionEmbedding: WeightMatrix  // (maxPositions, dim)
  let typeEmbedding: WeightMatrix  // (typeVocab, dim)
  let embNormW: UnsafePointer<Float>  // (dim)
  let embNormB: UnsafePointer<Float>  // (dim)
  let layers: [Layer]
  let pool: ThreadPool
  /// Tokens one forward pass holds; sequences are packed whole, so at least `maxPositions`.
  let chunkTokens: Int
  private let lock = NSLock()
  private var state: BertState?

  public var dimension: Int { config.dim }
  public var maxPositions: Int { config.maxPositions }

  /// A sentence-transformers / Hugging Face folder: config.json, model.safetensors, and the
  /// optional sentence-transformers files (pooling, max_seq_length).
  public convenience init(folder: String, threads: Int = 2, mode: KernelMode = .fast) throws(BertError) {
    let config = try BertConfig(folder: folder)
    let file: SafeTensorsFile
    do { file = try SafeTensorsFile(path: folder + "/model.safetensors") } catch { throw .safetensors(error) }
    try self.init(config: config, source: try BertTensorSource(safetensors: file), threads: threads, mode: mode)
  }

  /// A GGUF written by `hearth convert` or llama.cpp's converter (architecture `bert`).
  public convenience init(file: GGUFFile, threads: Int = 2, mode: KernelMode = .fast) throws(BertError) {
    try self.init(config: try BertConfig(gguf: file), source: BertTensorSource(gguf: file), threads: threads, mode: mode)
  }

  init(config c: BertConfig, source: BertTensorSource, threads: Int, mode: KernelMode) throws(BertError) {
    let b = BertBinder(source: source)
    config = c
    self.mode = mode
    binder = b
    tokenEmbedding = try b.matrix("token_embd.weight", rows: c.vocabSize, cols: c.dim)
    positionEmbedding = try b.matrix("position_embd.weight", rows: c.maxPositions, cols: c.dim)
    typeEmbedding = try b.matrix("token_types.weight", rows: c.typeVocabSize, cols: c.dim)
    embNormW = try b.vector("token_embd_norm.weight", n: c.dim)
    embNormB = try b.vector("token_embd_norm.bias", n: c.dim)
    layers = try (0..<c.layers).map { i throws(BertError) in
      let p = "blk.\(i)."
      return Layer(
        wq: try b.matrix(p + "attn_q.weight", rows: c.dim, cols: c.dim), bq: try b.vector(p + "attn_q.bias", n: c.dim),
        wk: try b.matrix(p + "attn_k.weight", rows: c.dim, cols: c.dim), bk: try b.vector(p + "attn_k.bias", n: c.dim),
        wv: try b.matrix(p + "attn_v.weight", rows: c.dim, cols: c.dim), bv: try b.vector(p + "attn_v.bias", n: c.dim),
        wo: try b.matrix(p + "attn_output.weight", rows: c.dim, cols: c.dim), bo: try b.vector(p + "attn_output.bias", n: c.dim),
        attnNormW: try b.vector(p + "attn_output_norm.weight", n: c.dim), attnNormB: try b.vector(p + "attn_output_norm.bias", n: c.dim),
        up: try b.matrix(p + "ffn_up.weight", rows: c.ffnDim, cols: c.dim), bUp: try b.vector(p + "ffn_up.bias", n: c.ffnDim),
        down: try b.matrix(p + "ffn_down.weight", rows: c.dim, cols: c.ffnDim), bDown: try b.vector(p + "ffn_down.bias", n: c.dim),
        outNormW: try b.vector(p + "layer_output_norm.weight", n: c.dim), outNormB: try b.vector(p + "layer_output_norm.bias", n: c.dim))
    }
    try b.checkAllUsed()
    pool = ThreadPool(threads: threads)
    chunkTokens = max(c.maxPositions, 1024)
  }

  /// One L2-normalised vector per sequence. Every sequence is checked before any work starts.
  public func embed(tokens seqs: [[Int]]) throws(BertError) -> [[Float]] {
    for (i, s) in seqs.enumerated() {
      guard !s.isEmpty else { throw .emptySequence(index: i) }
      guard s.count <= config.maxPositions else { throw .tooManyTokens(index: i, count: s.count, limit: config.maxPositions) }
      if let bad = s.first(where: { $0 < 0 || $0 >= config.vocabSize }) { throw .badToken(id: bad, vocab: config.vocabSize) }
    }
    lock.lock()
    defer { lock.unlock() }
    let s = state ?? BertState(config: config, capacity: chunkTokens, pool: pool)
    state = s
    var out: [[Float]] = []
    out.reserveCapacity(seqs.count)
    var first = 0
    while first < seqs.count {
      var end = first, total = 0
      while end < seqs.count, total + seqs[end].count <= s.capacity {
        total += seqs[end].count
        end += 1
      }
      forward(seqs[first..<end], s)
      var start = 0
      for seq in seqs[first..<end] {
        out.append(pooled(start: start, count: seq.count, s))
        start += seq.count
      }
      first = end
    }
    return out
  }

  // MARK: - Forward pass

  /// Runs the packed sequences (T tokens in all) and leaves the last hidden states in s.x.
  func forward(_ seqs: ArraySlice<[Int]>, _ s: BertState) {
    let c = config, d = c.dim
    var n = 0
    for seq in seqs {
      for (p, id) in seq.enumerated() {
        let row = s.x + n * d  // x: [T, dim] = word + position + type 0, normed
        Dequant.row(tokenEmbedding, index: id, into: row)
        Dequant.row(positionEmbedding, index: p, into: s.proj)
        Ops.add(row, s.proj, n: d)
        Dequant.row(typeEmbedding, index: 0, into: s.proj)
        Ops.add(row, s.proj, n: d)
        Self.layerNorm(row, embNormW, embNormB, n: d, eps: c.layerNormEps)
        s.segmentStart[n] = n - p
        s.segmentLength[n] = seq.count
        n += 1
      }
    }
    for w in layers {
      linear(w.wq, s.x, s.q, n, bias: w.bq, s)  // q: [T, dim]
      linear(w.wk, s.x, s.k, n, bias: w.bk, s)  // k: [T, dim]
      linear(w.wv, s.x, s.v, n, bias: w.bv, s)  // v: [T, dim]
      attend(n, s)  // att: [T, dim]
      linear(w.wo, s.att, s.proj, n, bias: w.bo, s)  // proj: [T, dim]
      addNorm(s, w.attnNormW, w.attnNormB, n)  // x = LN(x + proj)
      linear(w.up, s.x, s.ffn, n, bias: w.bUp, s)  // ffn: [T, ffnDim]
      gelu(s.ffn, count: n * c.ffnDim)
      linear(w.down, s.ffn, s.proj, n, bias: w.bDown, s)  // proj: [T, dim]
      addNorm(s, w.outNormW, w.outNormB, n)  // x = LN(x + proj)
    }
  }

  /// y[T, w.rows] = x[T, w.cols] · wᵀ + bias. Where the time goes: multi-threaded in Kernels.
  private func linear(
    _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, bias: UnsafePointer<Float>,
    _ s: BertState
  ) {
    Linear.matmul(w, x: x, xStride: w.cols, tokens: n, y: y, yStride: w.rows, mode: mode, workspace: s.workspace)
    Ops.addBias(y, bias, rows: n, n: w.rows, stride: w.rows)
  }

  /// att[t, head] = softmax(q[t, head] · K[seq, head]ᵀ / √headDim) · V[seq, head], over all of
  /// token t's own sequence (both directions) and nothing outside it.
  private func attend(_ n: Int, _ s: BertState) {
    let c = config, d = c.dim, hd = c.headDim, heads = c.heads
    let scale = 1 / Float(hd).squareRoot()
    let pairs = n * heads
    let tasks = min(pairs, pool.threads * 4)
    pool.run(tasks: tasks) { task, thread in
      let scores = s.scores + thread * c.maxPositions
      for pair in (pairs * task / tasks)..<(pairs * (task + 1) / tasks) {
        let t = pair / heads, h = pair % heads
        let start = s.segmentStart[t], len = s.segmentLength[t]
        let q = s.q + t * d + h * hd
        var best = -Float.infinity
        for j in 0..<len {
          let score = VecOps.dot(q, s.k + (start + j) * d + h * hd, hd) * scale
          scores[j] = score
          best = max(best, score)
        }
        var sum: Float = 0
        for j in 0..<len {
          let e = expf(scores[j] - best)
          scores[j] = e
          sum += e
        }
        let out = s.att + t * d + h * hd
        out.update(repeating: 0, count: hd)
        let inv = 1 / sum
        for j in 0..<len { VecOps.axpy(scores[j] * inv, s.v + (start + j) * d + h * hd, out, hd) }
      }
    }
  }

  /// x = LayerNorm(x + proj), row by row.
  private func addNorm(_ s: BertState, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) {
    let d = config.dim
    Ops.add(s.x, s.proj, n: n * d)
    for t in 0..<n { Self.layerNorm(s.x + t * d, w, b, n: d, eps: config.layerNormEps) }
  }

  /// x = (x - mean) / √(variance + eps) · w + b. Statistics in Double: with eps = 1e-12 the
  /// variance alone sets the scale, and it costs nothing next to a matrix product.
  static func layerNorm(_ x: UnsafeMutablePointer<Float>, _ w: UnsafePointer<Float>, _ b: UnsafePointer<Float>, n: Int, eps: Double) {
    var sum = 0.0
    for i in 0..<n { sum += Double(x[i]) }
    let mean = sum / Double(n)
    var ss = 0.0
    for i in 0..<n {
      let dev = Double(x[i]) - mean
      ss += dev * dev
    }
    let inv = 1 / (ss / Double(n) + eps).squareRoot()
    for i in 0..<n { x[i] = Float((Double(x[i]) - mean) * inv) * w[i] + b[i] }
  }

  /// BERT's GELU, the exact one: x · Φ(x) = 0.5 · x · (1 + erf(x / √2)), split over the threads.
  private func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
    let tasks = pool.threads
    pool.run(tasks: tasks) { task in
      for i in (count * task / tasks)..<(count * (task + 1) / tasks) {
        let v = x[i]
        x[i] = 0.5 * v * (1 + erff(v * 0.707_106_781_186_547_5))
      }
    }
  }

  /// The sentence vector of the `count` tokens from row `start`: mean or [CLS], L2-normalised
  /// (a zero vector stays zero, as sentence-transformers' normalisation leaves it).
  private func pooled(start: Int, count: Int, _ s: BertState) -> [Float] {
    let d = config.dim
    var acc = [Double](repeating: 0, count: d)
    let rows = config.pooling == .mean ? start..<(start + count) : start..<(start + 1)
    for t in rows {
      let row = s.x + t * d
      for i in 0..<d { acc[i] += Double(row[i]) }
    }
    let norm = acc.reduce(0) { $0 + $1 * $1 }.squareRoot()
    return norm > 0 ? acc.map { Float($0 / norm) } : [Float](repeating: 0, count: d)
  }
}

/// Activation buffers for one packed batch of up to `capacity` tokens, allocated once and
/// reused by every call. Shapes are `[tokens, features]`, row-major.
final class BertState {
  let capacity: Int
  let x: UnsafeMutablePointer<Float>  // [capacity, dim] hidden states
  let q: UnsafeMutablePointer<Float>  // [capacity, dim]
  let k: UnsafeMutablePointer<Float>  // [capacity, dim]
  let v: UnsafeMutablePointer<Float>  // [capacity, dim]
  let att: UnsafeMutablePointer<Float>  // [capacity, dim] attention output
  let proj: UnsafeMutablePointer<Float>  // [capacity, dim] output of attn_output / ffn_down
  let ffn: UnsafeMutablePointer<Float>  // [capacity, ffnDim]
  let scores: UnsafeMutablePointer<Float>  // [threads, maxPositions] attention scores per thread
  let segmentStart: UnsafeMutablePointer<Int>  // [capacity] first row of each token's sequence
  let segmentLength: UnsafeMutablePointer<Int>  // [capacity] its sequence's length
  let workspace: KernelWorkspace
  private let floats: [UnsafeMutablePointer<Float>]

  init(config c: BertConfig, capacity: Int, pool: ThreadPool) {
    self.capacity = capacity
    func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: n)
      p.initialize(repeating: 0, count: n)
      return p
    }
    x = alloc(capacity * c.dim)
    q = alloc(capacity * c.dim)
    k = alloc(capacity * c.dim)
    v = alloc(capacity * c.dim)
    att = alloc(capacity * c.dim)
    proj = alloc(capacity * c.dim)
    ffn = alloc(capacity * c.ffnDim)
    scores = alloc(pool.threads * c.maxPositions)
    floats = [x, q, k, v, att, proj, ffn, scores]
    segmentStart = .allocate(capacity: capacity)
    segmentLength = .allocate(capacity: capacity)
    workspace = KernelWorkspace(maxTokens: min(capacity, 512), maxCols: max(c.dim, c.ffnDim), threads: pool)
  }

  deinit {
    for p in floats { p.deallocate() }
    segmentStart.deallocate()
    segmentLength.deallocate()
  }
}

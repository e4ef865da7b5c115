import Foundation
import Kernels

/// The steps every decoder architecture here shares, each a small function the architecture
/// files compose into their own forward pass. B is the number of tokens in the batch.
enum Decoder {
  /// Checks a batch against the buffers, the vocabulary and the context, and reserves cache
  /// blocks for it, before any work starts.
  static func prepare(_ batch: Batch, cache: KVCache, state: ForwardState) throws(ModelError) {
    let c = state.config
    guard batch.count <= state.maxBatch else { throw .tooManyTokens(count: batch.count, limit: state.maxBatch) }
    guard batch.logitRows <= state.maxOutputs else { throw .tooManyTokens(count: batch.logitRows, limit: state.maxOutputs) }
    for i in 0..<batch.count {
      let t = Int(batch.tokens[i]), p = Int(batch.positions[i])
      guard t >= 0, t < c.vocabSize else { throw .badToken(id: t, vocab: c.vocabSize) }
      guard p >= 0, p < c.contextLength else { throw .badPosition(p) }
      try cache.reserve(batch.sequences[i], length: p + 1)
    }
    state.tables.removeAll(keepingCapacity: true)
    for s in batch.sequences { state.tables.append(cache.blocks(of: s)) }
  }

  /// Marks the batch's positions as filled.
  static func commit(_ batch: Batch, cache: KVCache) {
    for i in 0..<batch.count {
      let s = batch.sequences[i], p = Int(batch.positions[i])
      if p + 1 > cache.length(of: s) { cache.setLength(s, p + 1) }
    }
  }

  /// x[t] = embedding row of token t, optionally scaled.
  static func embed(_ table: WeightMatrix, _ batch: Batch, state: ForwardState, scale: Float? = nil) {
    let dim = state.config.dim
    for i in 0..<batch.count {
      let row = state.x + i * dim
      Dequant.row(table, index: Int(batch.tokens[i]), into: row)
      if let scale { Ops.scale(row, by: scale, n: dim) }
    }
  }

  /// y[B, w.rows] = x[B, w.cols] · wᵀ.
  @inline(__always)
  static func linear(_ w: WeightMatrix, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, tokens: Int, state: ForwardState) {
    Linear.matmul(w, x: x, xStride: w.cols, tokens: tokens, y: y, yStride: w.rows, mode: state.mode, workspace: state.workspace)
  }

  /// Rotates q and k of every token by its position.
  static func rope(_ rope: RoPE, _ batch: Batch, state: ForwardState) {
    let c = state.config
    for i in 0..<batch.count {
      let pos = Int(batch.positions[i])
      rope.apply(state.q + i * c.qDim, heads: c.heads, headDim: c.headDim, pos: pos, cos: state.ropeCos, sin: state.ropeSin)
      rope.apply(state.k + i * c.kvDim, heads: c.kvHeads, headDim: c.headDim, pos: pos, cos: state.ropeCos, sin: state.ropeSin)
    }
  }

  /// Writes each token's k and v into its sequence's cache blocks at its position.
  static func storeKV(layer: Int, _ batch: Batch, cache: KVCache, state: ForwardState) {
    let c = state.config, hd = c.headDim, bt = cache.blockTokens
    for i in 0..<batch.count {
      let pos = Int(batch.positions[i])
      let block = state.tables[i][pos / bt], slot = pos % bt
      for g in 0..<c.kvHeads {
        (cache.keyBlock(layer, block, g) + slot * hd).update(from: state.k + i * c.kvDim + g * hd, count: hd)
        (cache.valueBlock(layer, block, g) + slot * hd).update(from: state.v + i * c.kvDim + g * hd, count: hd)
      }
    }
  }

  /// att[t, h] = softmax(q[t, h] · K[0...pos]ᵀ · scale) · V over the token's own sequence
  /// (causal; limited to the last `window` positions on sliding-window layers).
  static func attend(layer: Int, _ batch: Batch, cache: KVCache, state: ForwardState, window: Int?) {
    let c = state.config
    let pairs = batch.count * c.heads
    let tasks = min(state.pool.threads, pairs)
    let group = c.heads / c.kvHeads
    state.pool.run(tasks: tasks) { task in
      let scores = state.scores + task * state.scoreStride
      let lo = pairs * task / tasks, hi = pairs * (task + 1) / tasks
      for pair in lo..<hi {
        let i = pair / c.heads, h = pair % c.heads
        attendOne(layer: layer, token: i, head: h, kvHead: h / group, batch, cache: cache, state: state, window: window, scores: scores)
      }
    }
  }

  private static func attendOne(
    layer: Int, token i: Int, head h: Int, kvHead g: Int, _ batch: Batch, cache: KVCache, state: ForwardState,
    window: Int?, scores: UnsafeMutablePointer<Float>
  ) {
    let c = state.config, hd = c.headDim, bt = cache.blockTokens
    let pos = Int(batch.positions[i])
    let first = window.map { max(0, pos - $0 + 1) } ?? 0
    let q = state.q + i * c.qDim + h * hd
    let out = state.att + i * c.qDim + h * hd
    let table = state.tables[i]
    let scale = c.attentionScale
    var maxScore = -Float.infinity
    for j in first...pos {
      let kRow = cache.keyBlock(layer, table[j / bt], g) + (j % bt) * hd
      let s = VecOps.dot(q, kRow, hd) * scale
      scores[j - first] = s
      if s > maxScore { maxScore = s }
    }
    let n = pos - first + 1
    var sum: Float = 0
    for j in 0..<n {
      let e = expf(scores[j] - maxScore)
      scores[j] = e
      sum += e
    }
    let inv = 1 / sum
    out.update(repeating: 0, count: hd)
    for j in first...pos {
      let vRow = cache.valueBlock(layer, table[j / bt], g) + (j % bt) * hd
      VecOps.axpy(scores[j - first] * inv, vRow, out, hd)
    }
  }

  /// Final norm of the rows that want logits, then the output projection into state.logits.
  static func logits(norm: UnsafePointer<Float>, output: WeightMatrix, _ batch: Batch, state: ForwardState) -> Int {
    let c = state.config
    var n = 0
    for i in 0..<batch.count where batch.wantsLogits[i] {
      Ops.rmsNorm(state.x + i * c.dim, norm, state.outRows + n * c.dim, n: c.dim, eps: c.rmsEps)
      n += 1
    }
    if n > 0 { linear(output, state.outRows, state.logits, tokens: n, state: state) }
    return n
  }
}

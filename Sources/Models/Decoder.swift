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
    state.loadTables(batch, cache: cache)
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

  /// Two or three products of the same input (gate/up, Q/K/V): one quantization of x and one
  /// dispatch to the thread pool instead of one each.
  @inline(__always)
  static func linear(
    _ a: (WeightMatrix, UnsafeMutablePointer<Float>), _ b: (WeightMatrix, UnsafeMutablePointer<Float>),
    _ c: (WeightMatrix, UnsafeMutablePointer<Float>)? = nil, x: UnsafePointer<Float>, tokens: Int, state: ForwardState
  ) {
    Linear.matmul(.init(a.0, y: a.1), .init(b.0, y: b.1), c.map { .init($0.0, y: $0.1) }, x: x, xStride: a.0.cols,
                  tokens: tokens, mode: state.mode, workspace: state.workspace)
  }

  /// cos and sin of every batch token's angles for `rope`, into table `slot` (0 or 1); once per
  /// step, before the layers.
  static func ropeAngles(_ rope: RoPE, slot: Int, _ batch: Batch, state: ForwardState) {
    let half = rope.dim / 2, base = slot * state.maxBatch * half
    for i in 0..<batch.count {
      rope.angles(pos: Int(batch.positions[i]), cos: state.ropeCos + base + i * half, sin: state.ropeSin + base + i * half)
    }
  }

  /// Rotates q and k of every token by its position, with the angles of table `slot`.
  static func rope(_ rope: RoPE, slot: Int, _ batch: Batch, state: ForwardState) {
    let c = state.config, half = rope.dim / 2, base = slot * state.maxBatch * half
    for i in 0..<batch.count {
      let cos = state.ropeCos + base + i * half, sin = state.ropeSin + base + i * half
      rope.apply(state.q + i * c.qDim, heads: c.heads, headDim: c.headDim, cos: cos, sin: sin)
      rope.apply(state.k + i * c.kvDim, heads: c.kvHeads, headDim: c.headDim, cos: cos, sin: sin)
    }
  }

  /// Writes each token's k and v into its sequence's cache blocks at its position.
  /// (An f16 cache takes them rounded to nearest even.)
  static func storeKV(layer: Int, _ batch: Batch, cache: KVCache, state: ForwardState) {
    let c = state.config, hd = c.headDim, bt = cache.blockTokens
    let f16 = cache.precision == .f16, level = state.workspace.level
    func store(_ src: UnsafePointer<Float>, _ block: UnsafeMutableRawPointer, _ slot: Int) {
      if f16 {
        Attention.toF16(src, block.assumingMemoryBound(to: UInt16.self) + slot * hd, count: hd, level: level)
      } else {
        (block.assumingMemoryBound(to: Float.self) + slot * hd).update(from: src, count: hd)
      }
    }
    for i in 0..<batch.count {
      let pos = Int(batch.positions[i])
      let block = state.tableData[state.tableStart[i] + pos / bt], slot = pos % bt
      for g in 0..<c.kvHeads {
        store(state.k + i * c.kvDim + g * hd, cache.keyBlock(layer, block, g), slot)
        store(state.v + i * c.kvDim + g * hd, cache.valueBlock(layer, block, g), slot)
      }
    }
  }

  /// att[t, h] = softmax(q[t, h] · K[0...pos]ᵀ · scale) · V over the token's own sequence
  /// (causal; limited to the last `window` positions on sliding-window layers). A decode step
  /// (every token of its own sequence, however many sequences are batched): one kernel call per
  /// (token, KV head) with the group's query heads together, so each key row serves them all.
  /// Otherwise (prompts): one call per (head, run of up to 16 tokens of one sequence), so each
  /// key row serves the run's tokens.
  static func attend(layer: Int, _ batch: Batch, cache: KVCache, state s: ForwardState, window: Int?) {
    let c = s.config, hd = c.headDim, bt = cache.blockTokens, n = batch.count
    let group = c.heads / c.kvHeads
    let (scratch, scratchFloats) = s.attentionScratch(blockTokens: bt)
    let f16 = cache.precision == .f16
    // A head's rows of block 0 (the cache keeps each head's blocks together); read here, not in
    // the tasks, which would retain and release the cache's arrays.
    let keys = cache.headKeys(layer, 0), values = cache.headValues(layer, 0)
    let headBytes = cache.headStride * cache.precision.bytes
    // Runs: consecutive tokens of one sequence, at most 16 each.
    var runs = 0
    for i in 0..<n where i == 0 || batch.sequences[i] != batch.sequences[i - 1] || i - Int(s.attnRuns[runs - 1]) >= 16 {
      s.attnRuns[runs] = Int32(i)
      runs += 1
    }
    s.attnRuns[runs] = Int32(n)
    // Per head instead, a batch of decoding sequences read each KV head's keys once per query
    // head of its group (3-7x the bytes, with contexts long enough to matter).
    let byGroup = runs == n && group > 1
    for i in 0..<n {
      let p = Int32(batch.positions[i]), lo = Int32(window.map { max(0, Int(p) - $0 + 1) } ?? 0)
      if byGroup {
        for h in 0..<group { s.attnLo[i * group + h] = lo; s.attnHi[i * group + h] = p }
      } else {
        s.attnLo[i] = lo
        s.attnHi[i] = p
      }
    }
    if byGroup {
      var longest = 0
      for i in 0..<n { longest = max(longest, Int(s.attnHi[i * group]) - Int(s.attnLo[i * group]) + 1) }
      // (The split buffers hold four tokens; more tokens make enough tasks without splitting.)
      let splits = n > 4 ? 1 : attentionSplits(keys: longest, pairs: n * c.kvHeads, threads: s.pool.threads,
                                               minKeys: s.splitMinKeys, minRange: s.splitMinRange)
      if splits > 1 {
        splitAttend(splits: splits, layer: layer, batch, cache: cache, state: s)
        return
      }
      // With fewer (token, KV head) pairs than threads (Gemma 3 has one KV head), a group's heads
      // are split between tasks so that every thread has work.
      let pairs = n * c.kvHeads, parts = min(group, max(1, (s.pool.threads + pairs - 1) / pairs))
      s.pool.run(tasks: pairs * parts) { task, thread in
        let i = task / (c.kvHeads * parts), g = (task / parts) % c.kvHeads, part = task % parts
        let h0 = group * part / parts, h1 = group * (part + 1) / parts
        let first = g * group + h0
        let qs = AttentionQueries(
          count: h1 - h0, headDim: hd, q: s.q + i * c.qDim + first * hd, stride: hd, lo: s.attnLo + i * group,
          hi: s.attnHi + i * group, out: s.att + i * c.qDim + first * hd, outStride: hd)
        Attention.run(qs, table: s.tableData + s.tableStart[i], blockTokens: bt, keys: keys + g * headBytes,
                      values: values + g * headBytes, blockStride: cache.blockStride, f16: f16, scale: c.attentionScale,
                      scratch: scratch + thread * scratchFloats)
      }
      return
    }
    s.pool.run(tasks: runs * c.heads) { task, thread in
      let r = task / c.heads, h = task % c.heads, g = h / group
      let t0 = Int(s.attnRuns[r]), count = Int(s.attnRuns[r + 1]) - t0
      let qs = AttentionQueries(
        count: count, headDim: hd, q: s.q + t0 * c.qDim + h * hd, stride: c.qDim, lo: s.attnLo + t0, hi: s.attnHi + t0,
        out: s.att + t0 * c.qDim + h * hd, outStride: c.qDim)
      Attention.run(qs, table: s.tableData + s.tableStart[t0], blockTokens: bt, keys: keys + g * headBytes,
                    values: values + g * headBytes, blockStride: cache.blockStride, f16: f16, scale: c.attentionScale,
                    scratch: scratch + thread * scratchFloats)
    }
  }

  /// How many key ranges to cut each decode (token, KV head) pair's keys into. Short contexts:
  /// one task per pair (or per part of a group's heads). From `minKeys` (512) keys, where reading
  /// the cache dominates: ranges of at least `minRange` (256) keys, enough of them that the tasks
  /// split evenly over the threads, each range read by one task only.
  static func attentionSplits(keys: Int, pairs: Int, threads: Int, minKeys: Int = 512, minRange: Int = 256) -> Int {
    if threads == 1 || keys < minKeys { return 1 }
    var splits = max(2, (2 * threads + pairs - 1) / pairs)
    while (pairs * splits) % threads != 0 { splits += 1 }
    return max(1, min(splits, ForwardState.maxAttnSplits, keys / minRange))
  }

  /// Split-K decode attention: each (split, token, KV head) task runs the group's query heads
  /// over its own range of whole cache blocks and keeps its log-sum-exps; the ranges' outputs are
  /// then merged by their softmax weights into state.att.
  static func splitAttend(splits: Int, layer: Int, _ batch: Batch, cache: KVCache, state s: ForwardState) {
    let c = s.config, hd = c.headDim, bt = cache.blockTokens, n = batch.count, group = c.heads / c.kvHeads
    let (scratch, scratchFloats) = s.attentionScratch(blockTokens: bt)
    let f16 = cache.precision == .f16
    // A head's rows of block 0 (the cache keeps each head's blocks together); read here, not in
    // the tasks, which would retain and release the cache's arrays.
    let keys = cache.headKeys(layer, 0), values = cache.headValues(layer, 0)
    let headBytes = cache.headStride * cache.precision.bytes
    // Row (split k, token i) of the split buffers.
    func row(_ k: Int, _ i: Int) -> Int { k * 4 + i }
    for i in 0..<n {
      let lo = Int(s.attnLo[i * group]), hi = Int(s.attnHi[i * group])
      let b0 = lo / bt, blocks = hi / bt - b0 + 1
      for k in 0..<splits {
        // Whole blocks b0 + blocks*k/splits ..< b0 + blocks*(k+1)/splits; empty when blocks < splits.
        let first = b0 + blocks * k / splits, end = b0 + blocks * (k + 1) / splits
        let rlo = Int32(max(lo, first * bt)), rhi = Int32(min(hi, end * bt - 1))
        let base = row(k, i) * c.heads
        for h in 0..<c.heads { s.splitLo[base + h] = rlo; s.splitHi[base + h] = rhi }
      }
    }
    s.pool.run(tasks: n * c.kvHeads * splits) { task, thread in
      let k = task % splits, pair = task / splits, i = pair / c.kvHeads, g = pair % c.kvHeads
      let head = row(k, i) * c.heads + g * group
      let qs = AttentionQueries(
        count: group, headDim: hd, q: s.q + i * c.qDim + g * group * hd, stride: hd, lo: s.splitLo + head,
        hi: s.splitHi + head, out: s.splitOut + head * hd, outStride: hd)
      Attention.run(qs, table: s.tableData + s.tableStart[i], blockTokens: bt, keys: keys + g * headBytes,
                    values: values + g * headBytes, blockStride: cache.blockStride, f16: f16, scale: c.attentionScale,
                    scratch: scratch + thread * scratchFloats, lse: s.splitLse + head)
    }
    let stride = row(1, 0) * c.heads
    for i in 0..<n {
      for h in 0..<c.heads {
        let head = row(0, i) * c.heads + h
        Attention.merge(parts: splits, outputs: s.splitOut + head * hd, partStride: stride * hd, lse: s.splitLse + head,
                        lseStride: stride, headDim: hd, into: s.att + i * c.qDim + h * hd)
      }
    }
  }

  /// Final norm of the rows that want logits, then the output projection into state.logits.
  /// With `state.hidden`, every row's final-normed state is kept there too (embeddings).
  static func logits(norm: UnsafePointer<Float>, output: WeightMatrix, _ batch: Batch, state: ForwardState) -> Int {
    let c = state.config
    if let h = state.hidden {
      for i in 0..<batch.count { Ops.rmsNorm(state.x + i * c.dim, norm, h + i * c.dim, n: c.dim, eps: c.rmsEps) }
    }
    var n = 0
    for i in 0..<batch.count where batch.wantsLogits[i] {
      Ops.rmsNorm(state.x + i * c.dim, norm, state.outRows + n * c.dim, n: c.dim, eps: c.rmsEps)
      n += 1
    }
    if n > 0 { linear(output, state.outRows, state.logits, tokens: n, state: state) }
    return n
  }
}

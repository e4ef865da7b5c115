import Kernels

/// Activation buffers for one forward step, allocated once for the largest batch. Nothing in the
/// token loop allocates: every intermediate has its slot here. Shapes in comments are
/// `[tokens, features]`, row-major.
public final class ForwardState: @unchecked Sendable {
  public let maxBatch: Int
  public let maxOutputs: Int
  public let mode: KernelMode
  public let pool: ThreadPool
  public let workspace: KernelWorkspace
  let config: ModelConfig

  let x: UnsafeMutablePointer<Float>  // [B, dim] residual stream
  let xn: UnsafeMutablePointer<Float>  // [B, dim] normed input of a block
  let q: UnsafeMutablePointer<Float>  // [B, heads * headDim]
  let k: UnsafeMutablePointer<Float>  // [B, kvHeads * headDim]
  let v: UnsafeMutablePointer<Float>  // [B, kvHeads * headDim]
  let att: UnsafeMutablePointer<Float>  // [B, heads * headDim] attention output
  let proj: UnsafeMutablePointer<Float>  // [B, dim] output of attn_output / ffn_down
  let gate: UnsafeMutablePointer<Float>  // [B, ffnDim]
  let up: UnsafeMutablePointer<Float>  // [B, ffnDim]
  let outRows: UnsafeMutablePointer<Float>  // [maxOutputs, dim] final-normed rows that need logits
  /// Logits, one row of `vocabSize` per output token, in batch order.
  public let logits: UnsafeMutablePointer<Float>  // [maxOutputs, vocab]
  /// Final-normed hidden state of every token of the last step, kept only when the state was
  /// made with `keepHidden` (decoder-pooled embeddings); nil otherwise, so generation pays nothing.
  public let hidden: UnsafeMutablePointer<Float>?  // [B, dim]
  /// cos and sin of each batch token's rotation angles, per RoPE base (Gemma has two), computed
  /// once per step rather than once per layer.
  let ropeCos: UnsafeMutablePointer<Float>  // [2, B, ropeDim / 2]
  let ropeSin: UnsafeMutablePointer<Float>  // [2, B, ropeDim / 2]
  /// Each batch token's key range in attention: first and last position it sees, repeated for
  /// each query head of a KV group (decode passes a group's heads as one call).
  let attnLo: UnsafeMutablePointer<Int32>  // [B * heads]
  let attnHi: UnsafeMutablePointer<Int32>  // [B * heads]
  /// Start of each run of batch tokens that attention processes together (same sequence).
  let attnRuns: UnsafeMutablePointer<Int32>  // [B + 1]
  /// Split-K decoding (long contexts): each (token, KV head)'s keys cut into up to
  /// `maxAttnSplits` ranges, one task each; their key ranges, outputs and log-sum-exps, indexed
  /// by (split, token < 4, query head), wait here to be merged.
  static let maxAttnSplits = 8
  /// Decode attention splits from this many keys, into ranges of at least `splitMinRange` (the
  /// tiny test models lower both to exercise the path within their 64-token context).
  var splitMinKeys = 512
  var splitMinRange = 256
  let splitLo: UnsafeMutablePointer<Int32>  // [maxAttnSplits, 4, heads]
  let splitHi: UnsafeMutablePointer<Int32>  // [maxAttnSplits, 4, heads]
  let splitOut: UnsafeMutablePointer<Float>  // [maxAttnSplits, 4, heads * headDim]
  let splitLse: UnsafeMutablePointer<Float>  // [maxAttnSplits, 4, heads]
  /// Per-thread scratch of the attention kernel, sized for the cache's block length on first use.
  private(set) var attnScratch: UnsafeMutablePointer<Float>?
  private(set) var attnScratchFloats = 0
  /// Block tables of the batch's tokens, refreshed each step, in one buffer (token i's starts at
  /// `tableStart[i]`; tokens of one sequence in a row share theirs): the attention tasks read
  /// them through a pointer, since reading a Swift array there retained and released it, an
  /// atomic on one cache line that the threads fought over.
  private(set) var tableData: UnsafeMutablePointer<Int32>
  private var tableCapacity = 0
  let tableStart: UnsafeMutablePointer<Int>  // [B]

  private var allocations: [UnsafeMutablePointer<Float>] = []

  init(config c: ModelConfig, maxBatch: Int, maxOutputs: Int, mode: KernelMode, pool: ThreadPool, keepHidden: Bool = false) {
    self.config = c
    self.maxBatch = max(1, maxBatch)
    self.maxOutputs = max(1, maxOutputs)
    self.mode = mode
    self.pool = pool
    let b = self.maxBatch
    var allocs: [UnsafeMutablePointer<Float>] = []
    func alloc(_ n: Int) -> UnsafeMutablePointer<Float> {
      let p = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
      p.initialize(repeating: 0, count: max(n, 1))
      allocs.append(p)
      return p
    }
    x = alloc(b * c.dim)
    xn = alloc(b * c.dim)
    q = alloc(b * c.qDim)
    k = alloc(b * c.kvDim)
    v = alloc(b * c.kvDim)
    att = alloc(b * c.qDim)
    proj = alloc(b * c.dim)
    gate = alloc(b * c.ffnDim)
    up = alloc(b * c.ffnDim)
    outRows = alloc(self.maxOutputs * c.dim)
    logits = alloc(self.maxOutputs * c.vocabSize)
    hidden = keepHidden ? alloc(b * c.dim) : nil
    ropeCos = alloc(2 * b * max(1, c.ropeDim / 2))
    ropeSin = alloc(2 * b * max(1, c.ropeDim / 2))
    attnLo = .allocate(capacity: b * c.heads)
    attnHi = .allocate(capacity: b * c.heads)
    attnRuns = .allocate(capacity: b + 1)
    let splitRows = Self.maxAttnSplits * 4
    splitLo = .allocate(capacity: splitRows * c.heads)
    splitHi = .allocate(capacity: splitRows * c.heads)
    splitOut = alloc(splitRows * c.qDim)
    splitLse = alloc(splitRows * c.heads)
    allocations = allocs
    let widest = max(c.dim, c.qDim, c.ffnDim)
    workspace = KernelWorkspace(maxTokens: b, maxCols: widest, threads: pool)
    tableData = .allocate(capacity: 1)
    tableStart = .allocate(capacity: b)
  }

  /// Copies the batch's block tables from `cache` into `tableData` (growing it when a longer
  /// context comes along).
  func loadTables(_ batch: Batch, cache: KVCache) {
    func starts(_ i: Int) -> Bool { i == 0 || batch.sequences[i] != batch.sequences[i - 1] }
    var total = 0
    for i in 0..<batch.count where starts(i) { total += cache.blocks(of: batch.sequences[i]).count }
    if total > tableCapacity {
      tableData.deallocate()
      tableCapacity = max(total, 2 * tableCapacity)
      tableData = .allocate(capacity: tableCapacity)
    }
    var at = 0
    for i in 0..<batch.count {
      guard starts(i) else {
        tableStart[i] = tableStart[i - 1]
        continue
      }
      tableStart[i] = at
      let table = cache.blocks(of: batch.sequences[i])
      table.withUnsafeBufferPointer { t in
        if let base = t.baseAddress { (tableData + at).update(from: base, count: t.count) }
      }
      at += table.count
    }
  }

  deinit {
    for p in allocations { p.deallocate() }
    attnLo.deallocate()
    attnHi.deallocate()
    attnRuns.deallocate()
    splitLo.deallocate()
    splitHi.deallocate()
    tableData.deallocate()
    tableStart.deallocate()
    attnScratch?.deallocate()
  }

  /// Attention scratch of thread `thread` for cache blocks of `blockTokens` (allocated once, on
  /// the first step, or again only if a cache with longer blocks comes along).
  func attentionScratch(blockTokens: Int) -> (UnsafeMutablePointer<Float>, Int) {
    let need = Attention.scratchFloats(blockTokens: blockTokens)
    if need > attnScratchFloats {
      attnScratch?.deallocate()
      attnScratch = .allocate(capacity: need * pool.threads)
      attnScratchFloats = need
    }
    return (attnScratch!, attnScratchFloats)
  }

  /// Hidden row of batch token `i` after the final norm (nil unless made with `keepHidden`).
  public func hiddenRow(_ i: Int) -> UnsafeBufferPointer<Float>? {
    hidden.map { UnsafeBufferPointer(start: $0 + i * config.dim, count: config.dim) }
  }

  /// Logits row `i` (in the order of the batch's tokens that asked for logits).
  public func logitsRow(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: logits + i * config.vocabSize, count: config.vocabSize)
  }
}

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
  /// Per-task attention scores, each as long as the context.
  let scores: UnsafeMutablePointer<Float>  // [tasks, contextLength]
  let scoreStride: Int
  let ropeCos: UnsafeMutablePointer<Float>
  let ropeSin: UnsafeMutablePointer<Float>
  /// Block tables of the batch's tokens, refreshed each step (capacity kept).
  var tables: [[Int32]] = []

  private var allocations: [UnsafeMutablePointer<Float>] = []

  init(config c: ModelConfig, maxBatch: Int, maxOutputs: Int, mode: KernelMode, pool: ThreadPool) {
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
    scoreStride = c.contextLength
    scores = alloc(pool.threads * c.contextLength)
    ropeCos = alloc(c.headDim)
    ropeSin = alloc(c.headDim)
    allocations = allocs
    let widest = max(c.dim, c.qDim, c.ffnDim)
    workspace = KernelWorkspace(maxTokens: b, maxCols: widest, threads: pool)
    tables.reserveCapacity(b)
  }

  deinit { for p in allocations { p.deallocate() } }

  /// Logits row `i` (in the order of the batch's tokens that asked for logits).
  public func logitsRow(_ i: Int) -> UnsafeMutableBufferPointer<Float> {
    UnsafeMutableBufferPointer(start: logits + i * config.vocabSize, count: config.vocabSize)
  }
}

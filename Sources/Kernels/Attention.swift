import CKernels

/// Attention of a few query vectors against one KV head of a paged f32 cache: scores q·k times
/// `scale`, a softmax over each query's own key range, and the weighted sum of value rows.
/// Keys of position p sit in cache block `table[p / blockTokens]`, slot `p % blockTokens`; each
/// block holds `blockTokens` rows of `headDim` floats for this head, and blocks are
/// `blockStride` floats apart. The AVX2 kernel runs four queries per pass (an online softmax
/// over the blocks), so every key and value row loaded serves four queries.
public struct AttentionQueries {
  public var count: Int
  public var headDim: Int
  /// `count` rows of `headDim` floats, `stride` floats apart.
  public var q: UnsafePointer<Float>
  public var stride: Int
  /// Per query: the first and last key position it sees (inclusive).
  public var lo: UnsafePointer<Int32>
  public var hi: UnsafePointer<Int32>
  /// Output rows (`count` of `headDim`), `outStride` floats apart.
  public var out: UnsafeMutablePointer<Float>
  public var outStride: Int

  public init(
    count: Int, headDim: Int, q: UnsafePointer<Float>, stride: Int, lo: UnsafePointer<Int32>, hi: UnsafePointer<Int32>,
    out: UnsafeMutablePointer<Float>, outStride: Int
  ) {
    self.count = count
    self.headDim = headDim
    self.q = q
    self.stride = stride
    self.lo = lo
    self.hi = hi
    self.out = out
    self.outStride = outStride
  }
}

public enum Attention {
  /// Floats of scratch one call needs for cache blocks of `blockTokens`.
  public static func scratchFloats(blockTokens: Int) -> Int { hk_attend_scratch_floats(Int32(blockTokens)) }

  public static func run(
    _ qs: AttentionQueries, table: UnsafePointer<Int32>, blockTokens: Int, keys: UnsafePointer<Float>,
    values: UnsafePointer<Float>, blockStride: Int, scale: Float, scratch: UnsafeMutablePointer<Float>,
    level: KernelLevel = .preferred
  ) {
    var a = hk_attention(
      nq: Int32(qs.count), hd: Int32(qs.headDim), q: qs.q, q_stride: qs.stride, lo: qs.lo, hi: qs.hi, table: table,
      block_tokens: Int32(blockTokens), k: keys, v: values, block_stride: blockStride, scale: scale, out: qs.out,
      out_stride: qs.outStride, scratch: scratch)
    level.table.pointee.attend(&a)
  }
}

import CKernels
import Foundation

/// Attention of a few query vectors against one KV head of a paged cache: scores q·k times
/// `scale`, a softmax over each query's own key range, and the weighted sum of value rows.
/// Keys of position p sit in cache block `table[p / blockTokens]`, slot `p % blockTokens`; each
/// block holds `blockTokens` rows of `headDim` elements (f32, or f16 widened as they load) for
/// this head, and blocks are `blockStride` elements apart. The AVX2 kernel runs four queries per pass (an online softmax
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

/// How keys and values are stored.
public enum KVPrecision: String, Sendable, CaseIterable {
  /// IEEE binary16, as llama.cpp's default cache: half the memory and half the bytes attention
  /// reads per token, for an error far below the 8-bit activations' (docs/engine.md).
  case f16
  /// f32: exact mode's cache, so that the yardstick stays within ~1e-5 of float64.
  case f32

  public var bytes: Int { self == .f16 ? 2 : 4 }

  /// The cache a kernel mode computes with: f32 for exact mode, f16 otherwise.
  public init(for mode: KernelMode) { self = mode == .exact ? .f32 : .f16 }
}

public enum Attention {
  /// Floats of scratch one call needs for cache blocks of `blockTokens`.
  public static func scratchFloats(blockTokens: Int) -> Int { hk_attend_scratch_floats(Int32(blockTokens)) }

  /// `keys` and `values` point at f32 rows, or at binary16 rows when `f16` is set. With `lse`,
  /// each query's log-sum-exp of its scores is written there too (`count` floats; -infinity for
  /// an empty key range), so that calls over disjoint ranges of keys can be `merge`d.
  public static func run(
    _ qs: AttentionQueries, table: UnsafePointer<Int32>, blockTokens: Int, keys: UnsafeRawPointer,
    values: UnsafeRawPointer, blockStride: Int, f16: Bool = false, scale: Float, scratch: UnsafeMutablePointer<Float>,
    lse: UnsafeMutablePointer<Float>? = nil, level: KernelLevel = .preferred
  ) {
    var a = hk_attention(
      nq: Int32(qs.count), hd: Int32(qs.headDim), q: qs.q, q_stride: qs.stride, lo: qs.lo, hi: qs.hi, table: table,
      block_tokens: Int32(blockTokens), k: keys, v: values, block_stride: blockStride, kv_f16: f16 ? 1 : 0, scale: scale,
      out: qs.out, out_stride: qs.outStride, scratch: scratch, lse: lse)
    level.table.pointee.attend(&a)
  }

  /// One query's attention from `parts` calls over disjoint key ranges (split-K decoding): part
  /// p's output row is `outputs + p * partStride` (headDim floats) and its log-sum-exp `lse[p *
  /// lseStride]`. Each part is weighted by its share of the softmax's total, e^(lse_p - max).
  public static func merge(
    parts: Int, outputs: UnsafePointer<Float>, partStride: Int, lse: UnsafePointer<Float>, lseStride: Int, headDim: Int,
    into out: UnsafeMutablePointer<Float>
  ) {
    var top = -Float.infinity
    for p in 0..<parts { top = max(top, lse[p * lseStride]) }
    out.update(repeating: 0, count: headDim)
    if top == -.infinity { return }
    var total: Float = 0
    for p in 0..<parts {
      let w = expf(lse[p * lseStride] - top)
      if w == 0 { continue }
      total += w
      let o = outputs + p * partStride
      for d in 0..<headDim { out[d] += w * o[d] }
    }
    let inv = 1 / total
    for d in 0..<headDim { out[d] *= inv }
  }

  /// y[i] = x[i] rounded to binary16 (nearest even), as keys and values enter an f16 cache.
  public static func toF16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, count: Int, level: KernelLevel = .preferred) {
    level.table.pointee.to_f16(Int32(count), x, y)
  }
}

import CKernels
import GGUF

/// Scratch for `Linear.matmul`, sized once up front so that no call allocates: quantized
/// activations for up to `maxTokens` rows of `maxCols` (Q16 or Q8), and per-thread scratch for
/// unpacked weight tiles and dequantized rows. One workspace serves one matmul at a time.
public final class KernelWorkspace: @unchecked Sendable {
  public let maxTokens: Int
  public let maxCols: Int
  public let threads: ThreadPool
  /// The kernels `.fast` mode uses; defaults to `KernelLevel.preferred`. Tests switch it to
  /// compare levels.
  public var level: KernelLevel

  /// Quantized activations: `maxTokens` rows of `activationRowBytes` bytes.
  let activations: UnsafeMutableRawPointer
  let activationRowBytes: Int
  /// Per-thread scratch, `scratchBytes` each, 64-byte aligned.
  let scratch: UnsafeMutableRawPointer
  let scratchBytes: Int
  /// What the waiting threads prefetch during decode.
  let plans: PrefetchPlans

  public init(maxTokens: Int, maxCols: Int, threads: ThreadPool, level: KernelLevel = .preferred) {
    precondition(maxTokens > 0 && maxCols > 0, "KernelWorkspace: sizes must be positive")
    self.maxTokens = maxTokens
    self.maxCols = maxCols
    self.threads = threads
    self.level = level
    // The largest activation row: Q16 (72 bytes per 32), Q8_1 (36 per 32) or Q8_K (292 per 256),
    // rounded up to whole cache lines.
    let blocks32 = (maxCols + 31) / 32, blocks256 = (maxCols + 255) / 256
    activationRowBytes = (max(blocks32 * 72, blocks256 * 292) + 63) & ~63
    activations = .allocate(byteCount: activationRowBytes * maxTokens, alignment: 64)
    // Per thread: the largest gemm tile scratch over all types, or a dequantized row (exact mode).
    let cols256 = blocks256 * 256, cols32 = blocks32 * 32
    var need = max(4 * cols32 + 64, hk_gemm_q16_scratch_bytes(Int32(cols32)))
    for type in TypeTraits.storageTypes {
      let c = TypeTraits.of(type)!.blockSize == 256 ? cols256 : cols32
      need = max(need, hk_gemm_scratch_bytes(Int32(type.rawValue), Int32(c)))
    }
    scratchBytes = (need + 63) & ~63
    scratch = .allocate(byteCount: scratchBytes * threads.threads, alignment: 64)
    plans = PrefetchPlans(threads: threads.threads)
  }

  deinit {
    activations.deallocate()
    scratch.deallocate()
  }

  @inline(__always)
  func scratch(thread: Int) -> UnsafeMutableRawPointer { scratch + thread * scratchBytes }
}

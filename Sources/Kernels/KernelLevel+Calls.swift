import CKernels
import GGUF

/// Direct calls into one level's kernels: for tests that compare levels against the reference,
/// and for benchmarks. The model layer goes through `Linear` instead.
extension KernelLevel {
  /// True when this level has a dot kernel for weight type `type`.
  public func supports(_ type: GGMLType) -> Bool { hk_supports(table, Int32(type.rawValue)) != 0 }

  /// dot(weight row, activation row) over n elements; `act` is in the weight type's activation
  /// format (`TypeTraits.activation`), f32 for the float types.
  public func vecDot(_ type: GGMLType, _ w: UnsafeRawPointer, _ act: UnsafeRawPointer, count n: Int) -> Float {
    precondition(supports(type), "KernelLevel.vecDot: no kernel for \(type.name)")
    var s: Float = 0
    hk_dot_rows(table, Int32(type.rawValue), Int32(n), w, 0, 1, act, 0, 1, &s, 1)
    return s
  }

  /// Quantizes n floats to activation format `type` (Q8_0, Q8_1 or Q8_K); bit-identical to
  /// `Reference.quantize` at every level.
  public func quantizeActivations(_ type: GGMLType, _ x: UnsafePointer<Float>, count n: Int, into dst: UnsafeMutableRawPointer) {
    precondition(TypeTraits.activationTypes.contains(type), "KernelLevel.quantizeActivations: \(type.name) is not an activation format")
    precondition(n % type.blockSize == 0, "KernelLevel.quantizeActivations: \(n) is not a whole number of blocks")
    hk_quantize_rows(table, Int32(type.rawValue), x, 0, 1, Int32(n), dst, 0)
  }

  /// The multi-row kernel: out[t*outStride + r] = dot(row r, activation row t), rows `wStride`
  /// bytes apart, activation rows `aStride` bytes apart. Allocates its scratch per call.
  public func gemm(
    _ type: GGMLType, count n: Int, _ w: UnsafeRawPointer, wStride: Int, rows: Int, _ a: UnsafeRawPointer, aStride: Int,
    tokens: Int, _ out: UnsafeMutablePointer<Float>, outStride: Int
  ) {
    precondition(supports(type), "KernelLevel.gemm: no kernel for \(type.name)")
    let bytes = hk_gemm_scratch_bytes(Int32(type.rawValue), Int32(n))
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(bytes, 64), alignment: 64)
    defer { scratch.deallocate() }
    hk_gemm(table, Int32(type.rawValue), Int32(n), w, wStride, Int32(rows), a, aStride, Int32(tokens), out, outStride, scratch)
  }

  // MARK: - Q16 activations (the default fast mode)

  /// True when this level has a Q16 dot kernel for weight type `type` (every quantized type).
  public func supportsQ16(_ type: GGMLType) -> Bool { hk_supports_q16(table, Int32(type.rawValue)) != 0 }

  /// dot(weight row, Q16 activation row) over n elements.
  public func vecDotQ16(_ type: GGMLType, _ w: UnsafeRawPointer, _ act: UnsafeRawPointer, count n: Int) -> Float {
    precondition(supportsQ16(type), "KernelLevel.vecDotQ16: no kernel for \(type.name)")
    var s: Float = 0
    hk_dot_rows_q16(table, Int32(type.rawValue), Int32(n), w, 0, 1, act, 0, 1, &s, 1)
    return s
  }

  /// Quantizes n floats (a multiple of 32) into a Q16 row; bit-identical to `Q16.quantize`.
  public func quantizeQ16(_ x: UnsafePointer<Float>, count n: Int, into dst: UnsafeMutableRawPointer) {
    precondition(n % 32 == 0, "KernelLevel.quantizeQ16: \(n) is not a whole number of groups")
    hk_quantize_rows_q16(table, x, 0, 1, Int32(n), dst, 0)
  }

  /// The multi-row kernel against Q16 rows: out[t*outStride + r] = dot(row r, activation row t).
  /// Allocates its scratch per call.
  public func gemmQ16(
    _ type: GGMLType, count n: Int, _ w: UnsafeRawPointer, wStride: Int, rows: Int, _ a: UnsafeRawPointer, aStride: Int,
    tokens: Int, _ out: UnsafeMutablePointer<Float>, outStride: Int
  ) {
    precondition(supportsQ16(type), "KernelLevel.gemmQ16: no kernel for \(type.name)")
    let scratch = UnsafeMutableRawPointer.allocate(byteCount: hk_gemm_q16_scratch_bytes(Int32(n)), alignment: 64)
    defer { scratch.deallocate() }
    hk_gemm_q16(table, Int32(type.rawValue), Int32(n), w, wStride, Int32(rows), a, aStride, Int32(tokens), out, outStride, scratch)
  }
}

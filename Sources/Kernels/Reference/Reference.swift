import GGUF

/// The plain-Swift reference for every supported format: the definition the fast kernels are
/// tested against, and bit-exact with ggml / gguf-py for dequantization.
public enum Reference {
  /// Dequantizes `count` elements (a whole number of blocks) of `type` from `src` into `dst`.
  public static func dequantize(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    let blocks = blockCount(type, count)
    switch type {
    case .f32: dst.update(from: src.assumingMemoryBound(to: Float.self), count: count)
    case .f16: for i in 0..<count { dst[i] = src.half(2 * i) }
    case .bf16: for i in 0..<count { dst[i] = Half.bf16ToFloat(src.u16(2 * i)) }
    case .q4_0: LegacyRef.dequantizeQ4_0(src, dst, blocks: blocks)
    case .q4_1: LegacyRef.dequantizeQ4_1(src, dst, blocks: blocks)
    case .q5_0: LegacyRef.dequantizeQ5_0(src, dst, blocks: blocks)
    case .q5_1: LegacyRef.dequantizeQ5_1(src, dst, blocks: blocks)
    case .q8_0: LegacyRef.dequantizeQ8_0(src, dst, blocks: blocks)
    case .q8_1: LegacyRef.dequantizeQ8_1(src, dst, blocks: blocks)
    case .q4_K: Q4KRef.dequantize(src, dst, blocks: blocks)
    case .q5_K: Q5KRef.dequantize(src, dst, blocks: blocks)
    case .q6_K: Q6KRef.dequantize(src, dst, blocks: blocks)
    case .q8_K: Q8KRef.dequantize(src, dst, blocks: blocks)
    default: preconditionFailure("Kernels: no dequantization for \(type.name)")
    }
  }

  /// Quantizes `count` floats (a whole number of blocks) into `dst`, which must hold
  /// `TypeTraits.of(type)!.rowBytes(count)` bytes. Follows ggml's `quantize_row_*_ref`.
  public static func quantize(_ type: GGMLType, _ src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutableRawPointer) {
    let blocks = blockCount(type, count)
    switch type {
    case .f32: dst.copyMemory(from: src, byteCount: 4 * count)
    case .f16: for i in 0..<count { dst.setU16(2 * i, Half.fromFloat(src[i])) }
    case .bf16: for i in 0..<count { dst.setU16(2 * i, Half.bf16FromFloat(src[i])) }
    case .q4_0: LegacyRef.quantizeQ4_0(src, dst, blocks: blocks)
    case .q4_1: LegacyRef.quantizeQ4_1(src, dst, blocks: blocks)
    case .q5_0: LegacyRef.quantizeQ5_0(src, dst, blocks: blocks)
    case .q5_1: LegacyRef.quantizeQ5_1(src, dst, blocks: blocks)
    case .q8_0: LegacyRef.quantizeQ8_0(src, dst, blocks: blocks)
    case .q8_1: LegacyRef.quantizeQ8_1(src, dst, blocks: blocks)
    case .q4_K: Q4KRef.quantize(src, dst, blocks: blocks)
    case .q5_K: Q5KRef.quantize(src, dst, blocks: blocks)
    case .q6_K: Q6KRef.quantize(src, dst, blocks: blocks)
    case .q8_K: Q8KRef.quantize(src, dst, blocks: blocks)
    default: preconditionFailure("Kernels: no quantization for \(type.name)")
    }
  }

  /// The exact dot product of a weight row and an activation row, each as its format defines it:
  /// both sides dequantized with the reference and summed in Double. `act` is in the weight
  /// type's activation format (`TypeTraits.activation`), f32 for the float types.
  public static func dot(_ type: GGMLType, _ w: UnsafeRawPointer, _ act: UnsafeRawPointer, count n: Int) -> Double {
    guard let traits = TypeTraits.of(type) else { preconditionFailure("Kernels: unsupported type \(type.name)") }
    if traits.activation == .q8_1 { return dotQ8_1(type, w, act, count: n) }
    var a = [Float](repeating: 0, count: n), b = [Float](repeating: 0, count: n)
    a.withUnsafeMutableBufferPointer { dequantize(type, w, $0.baseAddress!, count: n) }
    b.withUnsafeMutableBufferPointer { dequantize(traits.activation, act, $0.baseAddress!, count: n) }
    var s = 0.0
    for i in 0..<n { s += Double(a[i]) * Double(b[i]) }
    return s
  }

  /// Q4_1/Q5_1 against Q8_1, as ggml defines it: d_w*d_a*Σ q_w*q_a + m_w*s_a per block, where
  /// s_a is the activation block's stored (fp16) d*Σq_a.
  private static func dotQ8_1(_ type: GGMLType, _ w: UnsafeRawPointer, _ act: UnsafeRawPointer, count n: Int) -> Double {
    let five = type == .q5_1
    let wBytes = five ? 24 : 20, qsOffset = five ? 8 : 4
    var s = 0.0
    for i in 0..<(n / 32) {
      let b = w + i * wBytes, a = act + i * 36
      let qh = five ? b.u32(4) : 0
      var sumi = 0
      for j in 0..<16 {
        let q = b.u8(qsOffset + j)
        let lo = Int(q & 0xF) | Int((qh >> UInt32(j)) & 1) << 4
        let hi = Int(q >> 4) | Int((qh >> UInt32(j + 16)) & 1) << 4
        sumi += lo * Int(a.i8(4 + j)) + hi * Int(a.i8(4 + j + 16))
      }
      s += Double(b.half(0)) * Double(a.half(0)) * Double(sumi) + Double(b.half(2)) * Double(a.half(2))
    }
    return s
  }

  private static func blockCount(_ type: GGMLType, _ count: Int) -> Int {
    guard let t = TypeTraits.of(type) else { preconditionFailure("Kernels: unsupported type \(type.name)") }
    precondition(count >= 0 && count % t.blockSize == 0, "Kernels: \(count) elements is not a whole number of \(type.name) blocks")
    return count / t.blockSize
  }
}

import GGUF

public enum Dequant {
  /// Dequantizes `count` elements of `type` (a whole number of blocks) with the bit-exact
  /// reference.
  public static func row(_ type: GGMLType, _ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, count: Int) {
    Reference.dequantize(type, src, dst, count: count)
  }

  /// Row `index` of `w` (an embedding lookup) into `dst`, which holds `w.cols` floats.
  public static func row(_ w: WeightMatrix, index: Int, into dst: UnsafeMutablePointer<Float>) {
    precondition(index >= 0 && index < w.rows, "Dequant.row: index \(index) out of 0..<\(w.rows)")
    Reference.dequantize(w.type, w.row(index), dst, count: w.cols)
  }
}

public enum Quantize {
  /// Quantizes `count` floats (a whole number of blocks) to `type` with ggml's reference
  /// quantizer; returns the block bytes.
  public static func row(_ type: GGMLType, _ src: UnsafePointer<Float>, count: Int) -> [UInt8] {
    guard let traits = TypeTraits.of(type) else { preconditionFailure("Quantize: unsupported type \(type.name)") }
    var out = [UInt8](repeating: 0, count: traits.rowBytes(count))
    out.withUnsafeMutableBytes { Reference.quantize(type, src, count: count, into: $0.baseAddress!) }
    return out
  }

  /// The same into caller-provided storage of `TypeTraits.of(type)!.rowBytes(count)` bytes.
  public static func row(_ type: GGMLType, _ src: UnsafePointer<Float>, count: Int, into dst: UnsafeMutableRawPointer) {
    Reference.quantize(type, src, count: count, into: dst)
  }
}

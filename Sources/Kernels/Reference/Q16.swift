import GGUF

// Q16: Hearth's activation format for the default fast mode (not a GGUF type). A row of n values
// (n a multiple of 32) is laid out as
//   int16 q[n] | f32 d[n / 32] | f32 s[n / 32]
// where, per group g of 32 values, d = amax / 32767, q = round-half-even(x / d) (via 1 / d, as
// the C kernels compute it), and s = d * Σq, which the min and offset terms of Q4_1, Q5_1, Q4_K
// and Q5_K need. Within a group, q holds elements 0, 2, ..., 30 and then 1, 3, ..., 31: packed
// weights keep consecutive elements in one 16-bit word, so the kernels unpack them into this
// order with shifts and masks alone. Every implementation (this one, the scalar C and the AVX2
// kernels) produces the same bytes.

public enum Q16 {
  /// The largest quantized magnitude.
  public static let maxValue: Float = 32767

  /// Bytes of one row of n values.
  public static func rowBytes(_ n: Int) -> Int { 2 * n + 8 * (n / 32) }

  /// Quantizes `count` floats (a multiple of 32) into one row at `dst` (`rowBytes(count)` bytes).
  public static func quantize(_ x: UnsafePointer<Float>, count: Int, into dst: UnsafeMutableRawPointer) {
    precondition(count % 32 == 0, "Q16: \(count) values is not a whole number of groups")
    let groups = count / 32
    for g in 0..<groups {
      let v = x + 32 * g
      var amax: Float = 0
      for j in 0..<32 { amax = max(amax, abs(v[j])) }
      let d = amax / maxValue
      let id: Float = d != 0 ? 1 / d : 0
      var sum = 0
      for j in 0..<32 {
        let q = min(32767, max(-32767, nearestInt(v[j] * id)))
        dst.setI16(2 * (32 * g + position(j)), Int16(q))
        sum += q
      }
      dst.setF32(2 * count + 4 * g, d)
      dst.setF32(2 * count + 4 * groups + 4 * g, d * Float(sum))
    }
  }

  /// The quantized row as an array (the reference for the kernels' quantizers).
  public static func quantize(_ x: UnsafePointer<Float>, count: Int) -> [UInt8] {
    var out = [UInt8](repeating: 0, count: rowBytes(count))
    out.withUnsafeMutableBytes { quantize(x, count: count, into: $0.baseAddress!) }
    return out
  }

  /// Where element j (0..<32) of a group is stored within the group.
  @inline(__always)
  public static func position(_ j: Int) -> Int { j & 1 == 0 ? j / 2 : 16 + j / 2 }

  /// Value i of a row: d_g * q_i, exactly (in Double).
  @inline(__always)
  static func value(_ row: UnsafeRawPointer, _ i: Int, count: Int) -> Double {
    Double(row.f32(2 * count + 4 * (i / 32))) * Double(row.i16(2 * (32 * (i / 32) + position(i % 32))))
  }

  /// Dequantizes a row into floats (d_g * q_i rounded to f32).
  public static func dequantize(_ row: UnsafeRawPointer, count: Int, into dst: UnsafeMutablePointer<Float>) {
    for i in 0..<count { dst[i] = Float(value(row, i, count: count)) }
  }
}

extension Reference {
  /// The exact dot product of a weight row (dequantized by the reference) with a Q16 activation
  /// row, in Double: the definition the Q16 kernels are tested against.
  public static func dotQ16(_ type: GGMLType, _ w: UnsafeRawPointer, _ act: UnsafeRawPointer, count n: Int) -> Double {
    var wf = [Float](repeating: 0, count: n)
    wf.withUnsafeMutableBufferPointer { dequantize(type, w, $0.baseAddress!, count: n) }
    var s = 0.0
    for i in 0..<n { s += Double(wf[i]) * Q16.value(act, i, count: n) }
    return s
  }
}

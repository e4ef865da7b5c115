// Reference (de)quantization of ggml's 32-element block formats, following ggml's
// `quantize_row_*_ref` / `dequantize_row_*` operation for operation, so that results are
// bit-identical to ggml and gguf-py (no fused multiply-adds: Swift never contracts).

enum LegacyRef {
  static let qk = 32

  // MARK: Q4_0: fp16 d, 16 bytes of nibbles (low nibbles = elements 0..15). x = (q - 8) * d.

  static func dequantizeQ4_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * 18
      let d = b.half(0)
      let y = dst + i * qk
      for j in 0..<16 {
        let q = b.u8(2 + j)
        y[j] = Float(Int(q & 0xF) - 8) * d
        y[j + 16] = Float(Int(q >> 4) - 8) * d
      }
    }
  }

  static func quantizeQ4_0(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let v = x + i * qk
      let b = dst + i * 18
      let (_, max) = absMax(v, qk)
      let d = max / -8
      let id: Float = d != 0 ? 1 / d : 0
      b.setHalf(0, d)
      for j in 0..<16 {
        let q0 = min(15, truncClamp(v[j] * id + 8.5, -128, 127))
        let q1 = min(15, truncClamp(v[j + 16] * id + 8.5, -128, 127))
        b.setU8(2 + j, UInt8(truncatingIfNeeded: q0) & 0xF | UInt8(truncatingIfNeeded: q1) << 4)
      }
    }
  }

  // MARK: Q4_1: fp16 d, fp16 m, nibbles. x = q * d + m.

  static func dequantizeQ4_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * 20
      let d = b.half(0), m = b.half(2)
      let y = dst + i * qk
      for j in 0..<16 {
        let q = b.u8(4 + j)
        y[j] = Float(q & 0xF) * d + m
        y[j + 16] = Float(q >> 4) * d + m
      }
    }
  }

  static func quantizeQ4_1(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let v = x + i * qk
      let b = dst + i * 20
      let (lo, hi) = minMax(v, qk)
      let d = (hi - lo) / 15
      let id: Float = d != 0 ? 1 / d : 0
      b.setHalf(0, d)
      b.setHalf(2, lo)
      for j in 0..<16 {
        let q0 = min(15, truncClamp((v[j] - lo) * id + 0.5, -128, 127))
        let q1 = min(15, truncClamp((v[j + 16] - lo) * id + 0.5, -128, 127))
        b.setU8(4 + j, UInt8(truncatingIfNeeded: q0) & 0xF | UInt8(truncatingIfNeeded: q1) << 4)
      }
    }
  }

  // MARK: Q5_0: fp16 d, 32 high bits (qh, little-endian u32), nibbles. x = (q - 16) * d.

  static func dequantizeQ5_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * 22
      let d = b.half(0)
      let qh = b.u32(2)
      let y = dst + i * qk
      for j in 0..<16 {
        let q = b.u8(6 + j)
        let h0 = Int((qh >> UInt32(j)) & 1) << 4
        let h1 = Int((qh >> UInt32(j + 16)) & 1) << 4
        y[j] = Float((Int(q & 0xF) | h0) - 16) * d
        y[j + 16] = Float((Int(q >> 4) | h1) - 16) * d
      }
    }
  }

  static func quantizeQ5_0(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let v = x + i * qk
      let b = dst + i * 22
      let (_, max) = absMax(v, qk)
      let d = max / -16
      let id: Float = d != 0 ? 1 / d : 0
      b.setHalf(0, d)
      var qh: UInt32 = 0
      for j in 0..<16 {
        let q0 = UInt32(truncatingIfNeeded: min(31, truncClamp(v[j] * id + 16.5, -128, 127)))
        let q1 = UInt32(truncatingIfNeeded: min(31, truncClamp(v[j + 16] * id + 16.5, -128, 127)))
        b.setU8(6 + j, UInt8(q0 & 0xF | (q1 & 0xF) << 4))
        qh |= ((q0 & 0x10) >> 4) << UInt32(j)
        qh |= ((q1 & 0x10) >> 4) << UInt32(j + 16)
      }
      b.setU32(2, qh)
    }
  }

  // MARK: Q5_1: fp16 d, fp16 m, qh, nibbles. x = q * d + m.

  static func dequantizeQ5_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * 24
      let d = b.half(0), m = b.half(2)
      let qh = b.u32(4)
      let y = dst + i * qk
      for j in 0..<16 {
        let q = b.u8(8 + j)
        let h0 = Int((qh >> UInt32(j)) & 1) << 4
        let h1 = Int((qh >> UInt32(j + 16)) & 1) << 4
        y[j] = Float(Int(q & 0xF) | h0) * d + m
        y[j + 16] = Float(Int(q >> 4) | h1) * d + m
      }
    }
  }

  static func quantizeQ5_1(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let v = x + i * qk
      let b = dst + i * 24
      let (lo, hi) = minMax(v, qk)
      let d = (hi - lo) / 31
      let id: Float = d != 0 ? 1 / d : 0
      b.setHalf(0, d)
      b.setHalf(2, lo)
      var qh: UInt32 = 0
      for j in 0..<16 {
        // ggml casts straight to uint8_t here (no MIN(31, ...)); values can't exceed 31.5.
        let q0 = UInt32(truncClamp((v[j] - lo) * id + 0.5, 0, 255))
        let q1 = UInt32(truncClamp((v[j + 16] - lo) * id + 0.5, 0, 255))
        b.setU8(8 + j, UInt8(truncatingIfNeeded: q0 & 0xF | (q1 & 0xF) << 4))
        qh |= ((q0 & 0x10) >> 4) << UInt32(j)
        qh |= ((q1 & 0x10) >> 4) << UInt32(j + 16)
      }
      b.setU32(4, qh)
    }
  }

  // MARK: Q8_0: fp16 d, 32 int8. x = q * d.

  static func dequantizeQ8_0(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * 34
      let d = b.half(0)
      let y = dst + i * qk
      for j in 0..<32 { y[j] = Float(b.i8(2 + j)) * d }
    }
  }

  static func quantizeQ8_0(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let v = x + i * qk
      let b = dst + i * 34
      var amax: Float = 0
      for j in 0..<qk { amax = Swift.max(amax, abs(v[j])) }
      let d = amax / 127
      let id: Float = d != 0 ? 1 / d : 0
      b.setHalf(0, d)
      for j in 0..<qk { b.setI8(2 + j, Int8(truncatingIfNeeded: roundClamp(v[j] * id))) }
    }
  }

  // MARK: Q8_1 (activations): fp16 d, fp16 s = d * sum(q), 32 int8.

  static func dequantizeQ8_1(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * 36
      let d = b.half(0)
      let y = dst + i * qk
      for j in 0..<32 { y[j] = Float(b.i8(4 + j)) * d }
    }
  }

  static func quantizeQ8_1(_ x: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let v = x + i * qk
      let b = dst + i * 36
      var amax: Float = 0
      for j in 0..<qk { amax = Swift.max(amax, abs(v[j])) }
      let d = amax / 127
      let id: Float = d != 0 ? 1 / d : 0
      b.setHalf(0, d)
      var sum = 0
      for j in 0..<qk {
        let q = roundClamp(v[j] * id)
        b.setI8(4 + j, Int8(truncatingIfNeeded: q))
        sum += q
      }
      b.setHalf(2, Float(sum) * d)
    }
  }

  // MARK: helpers

  /// The element of largest magnitude (first one on ties), as ggml's Q4_0/Q5_0 pick it.
  @inline(__always)
  static func absMax(_ v: UnsafePointer<Float>, _ n: Int) -> (amax: Float, max: Float) {
    var amax: Float = 0, max: Float = 0
    for j in 0..<n where amax < abs(v[j]) {
      amax = abs(v[j])
      max = v[j]
    }
    return (amax, max)
  }

  @inline(__always)
  static func minMax(_ v: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
    var lo = Float.greatestFiniteMagnitude, hi = -Float.greatestFiniteMagnitude
    for j in 0..<n {
      if v[j] < lo { lo = v[j] }
      if v[j] > hi { hi = v[j] }
    }
    return (lo, hi)
  }

  /// C's `roundf` (half away from zero) into an int8 range; NaN gives 0.
  @inline(__always)
  static func roundClamp(_ v: Float) -> Int {
    guard v == v else { return 0 }
    return Int(Swift.max(-128, Swift.min(127, v.rounded(.toNearestOrAwayFromZero))))
  }
}

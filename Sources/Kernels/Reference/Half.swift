import CKernels

/// Bit-exact fp16 and bf16 conversions, written out by hand so that every bit pattern converts the
/// way numpy (and so gguf-py) converts it: subnormals exactly, round-to-nearest-even, and NaN
/// payloads kept rather than quieted (hardware `vcvtph2ps` would quiet signalling NaNs).
public enum Half {
  /// binary16 bits -> Float, exact for every input.
  @inline(__always)
  public static func toFloat(_ h: UInt16) -> Float {
    let sign = UInt32(h & 0x8000) << 16
    let exp = UInt32(h >> 10) & 0x1F
    let mant = UInt32(h & 0x3FF)
    if exp == 0x1F {  // inf or NaN: keep the payload
      return Float(bitPattern: sign | 0x7F80_0000 | (mant << 13))
    }
    if exp != 0 {
      return Float(bitPattern: sign | ((exp + 112) << 23) | (mant << 13))
    }
    // Zero or subnormal: mant * 2^-24 is exact in Float.
    let magnitude = Float(mant) * Float(bitPattern: 0x3380_0000)  // 2^-24
    return sign != 0 ? -magnitude : magnitude
  }

  /// Float -> binary16 bits, round to nearest even (overflow to inf, NaN kept as NaN).
  public static func fromFloat(_ f: Float) -> UInt16 {
    let bits = f.bitPattern
    let sign = UInt16((bits >> 16) & 0x8000)
    let exp = Int((bits >> 23) & 0xFF)
    let mant = bits & 0x7F_FFFF
    if exp == 0xFF {
      if mant == 0 { return sign | 0x7C00 }
      var payload = UInt16(mant >> 13)
      if payload == 0 { payload = 1 }  // keep it a NaN
      return sign | 0x7C00 | payload
    }
    let e = exp - 127 + 15
    if e >= 0x1F { return sign | 0x7C00 }
    if e <= 0 {
      // Subnormal half (or zero): shift the full significand into place, then round.
      if e < -10 { return sign }
      let full = mant | 0x80_0000
      let shift = UInt32(14 - e)  // 24-bit significand -> 10-bit field
      var h = full >> shift
      let rest = full & ((1 << shift) - 1)
      let half = UInt32(1) << (shift - 1)
      if rest > half || (rest == half && (h & 1) == 1) { h += 1 }
      return sign | UInt16(h)  // a carry into bit 10 correctly yields the smallest normal
    }
    var h = UInt32(e) << 10 | (mant >> 13)
    let rest = mant & 0x1FFF
    if rest > 0x1000 || (rest == 0x1000 && (h & 1) == 1) { h += 1 }  // may carry into inf: correct
    return sign | UInt16(h)
  }

  /// The fast kernels' conversion: a lookup in the C kernels' 64K-entry table (built from the
  /// same exact conversion; see `toFloat`).
  public static func lookup(_ h: UInt16) -> Float { hk_fp16_lookup(h) }

  /// bfloat16 bits -> Float (exact: the top half of a Float).
  @inline(__always)
  public static func bf16ToFloat(_ b: UInt16) -> Float { Float(bitPattern: UInt32(b) << 16) }

  /// Float -> bfloat16 bits as ggml rounds it: nearest even, NaNs forced quiet.
  public static func bf16FromFloat(_ f: Float) -> UInt16 {
    let u = f.bitPattern
    if (u & 0x7FFF_FFFF) > 0x7F80_0000 { return UInt16((u >> 16) | 64) }
    return UInt16((UInt64(u) + UInt64(0x7FFF + ((u >> 16) & 1))) >> 16)
  }
}

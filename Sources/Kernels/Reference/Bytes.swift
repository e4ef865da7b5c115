// Little helpers for reading and writing block fields at byte offsets. Blocks are packed
// (18, 20, 22... bytes), so every access is unaligned-safe.

extension UnsafeRawPointer {
  @inline(__always) func u8(_ o: Int) -> UInt8 { load(fromByteOffset: o, as: UInt8.self) }
  @inline(__always) func i8(_ o: Int) -> Int8 { load(fromByteOffset: o, as: Int8.self) }
  @inline(__always) func u16(_ o: Int) -> UInt16 { loadUnaligned(fromByteOffset: o, as: UInt16.self) }
  @inline(__always) func i16(_ o: Int) -> Int16 { loadUnaligned(fromByteOffset: o, as: Int16.self) }
  @inline(__always) func u32(_ o: Int) -> UInt32 { loadUnaligned(fromByteOffset: o, as: UInt32.self) }
  @inline(__always) func f32(_ o: Int) -> Float { loadUnaligned(fromByteOffset: o, as: Float.self) }
  /// An fp16 field, converted.
  @inline(__always) func half(_ o: Int) -> Float { Half.toFloat(u16(o)) }
}

extension UnsafeMutableRawPointer {
  @inline(__always) func u8(_ o: Int) -> UInt8 { load(fromByteOffset: o, as: UInt8.self) }
  @inline(__always) func setU8(_ o: Int, _ v: UInt8) { storeBytes(of: v, toByteOffset: o, as: UInt8.self) }
  @inline(__always) func setI8(_ o: Int, _ v: Int8) { storeBytes(of: v, toByteOffset: o, as: Int8.self) }
  @inline(__always) func setU16(_ o: Int, _ v: UInt16) { storeBytes(of: v, toByteOffset: o, as: UInt16.self) }
  @inline(__always) func setI16(_ o: Int, _ v: Int16) { storeBytes(of: v, toByteOffset: o, as: Int16.self) }
  @inline(__always) func setU32(_ o: Int, _ v: UInt32) { storeBytes(of: v, toByteOffset: o, as: UInt32.self) }
  @inline(__always) func setF32(_ o: Int, _ v: Float) { storeBytes(of: v, toByteOffset: o, as: Float.self) }
  /// Stores `v` as an fp16 field (round to nearest even).
  @inline(__always) func setHalf(_ o: Int, _ v: Float) { setU16(o, Half.fromFloat(v)) }
}

/// C's float -> small integer conversion as ggml's quantizers use it (`(int8_t)(x + 8.5f)`):
/// truncation toward zero, clamped to `lo...hi` so that NaN or huge inputs can't trap.
@inline(__always)
func truncClamp(_ v: Float, _ lo: Int, _ hi: Int) -> Int {
  guard v == v else { return lo }
  if v <= Float(lo) { return lo }
  if v >= Float(hi) { return hi }
  return Int(v)
}

/// ggml's `nearest_int`: round half to even via the 1.5 * 2^23 trick (valid for |x| < 2^22).
@inline(__always)
func nearestInt(_ x: Float) -> Int {
  let v = x + 12582912.0
  return Int(v.bitPattern & 0x007F_FFFF) - 0x0040_0000
}

// Q8_K (activations for the K-quants): f32 d | int8 qs[256] | int16 bsums[16] (sums of each 16
// quants, which the K-quant dots use for their min and offset terms). 292 bytes.

enum Q8KRef {
  static let blockBytes = 292

  static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * blockBytes
      let d = b.f32(0)
      for j in 0..<256 { dst[i * 256 + j] = d * Float(b.i8(4 + j)) }
    }
  }

  /// ggml `quantize_row_q8_K_ref`: scale so that the element of largest magnitude maps to -127.
  static func quantize(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    for i in 0..<blocks {
      let x = src + i * 256
      let b = dst + i * blockBytes
      var amax: Float = 0, max: Float = 0
      for j in 0..<256 where abs(x[j]) > amax {
        amax = abs(x[j])
        max = x[j]
      }
      if amax == 0 {
        for k in 0..<blockBytes { b.setU8(k, 0) }
        continue
      }
      let iscale = -127 / max
      for j in 0..<256 { b.setI8(4 + j, Int8(clamping: min(127, nearestInt(iscale * x[j])))) }
      for g in 0..<16 {
        var sum = 0
        for l in 0..<16 { sum += Int(UnsafeRawPointer(b).i8(4 + 16 * g + l)) }
        b.setI16(260 + 2 * g, Int16(sum))
      }
      b.setF32(0, 1 / iscale)
    }
  }
}

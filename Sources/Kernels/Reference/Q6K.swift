// Q6_K: super-blocks of 256 = 16 sub-blocks of 16 with signed 8-bit scales. Layout (210 bytes):
//   ql[128] (low 4 bits) | qh[64] (high 2 bits) | scales[16] (int8) | fp16 d
// x = d * scale[s] * (q - 32). Per 128 elements: ql[l] low/high nibbles hold elements l and
// 64 + l, ql[32 + l] elements 32 + l and 96 + l; qh[l] holds the four high-bit pairs.

enum Q6KRef {
  static let blockBytes = 210

  static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * blockBytes
      let d = b.half(208)
      var ql = b, qh = b + 128, sc = b + 192
      var y = dst + i * 256
      for _ in 0..<2 {
        for l in 0..<32 {
          let s = l / 16
          let h = qh.u8(l)
          let q1 = Int((ql.u8(l) & 0xF) | ((h >> 0) & 3) << 4) - 32
          let q2 = Int((ql.u8(l + 32) & 0xF) | ((h >> 2) & 3) << 4) - 32
          let q3 = Int((ql.u8(l) >> 4) | ((h >> 4) & 3) << 4) - 32
          let q4 = Int((ql.u8(l + 32) >> 4) | ((h >> 6) & 3) << 4) - 32
          y[l] = d * Float(sc.i8(s)) * Float(q1)
          y[l + 32] = d * Float(sc.i8(s + 2)) * Float(q2)
          y[l + 64] = d * Float(sc.i8(s + 4)) * Float(q3)
          y[l + 96] = d * Float(sc.i8(s + 6)) * Float(q4)
        }
        y += 128
        ql += 64
        qh += 32
        sc += 8
      }
    }
  }

  /// ggml `quantize_row_q6_K_ref`.
  static func quantize(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    let L = UnsafeMutablePointer<Int8>.allocate(capacity: 256)
    defer { L.deallocate() }
    var scales = [Float](repeating: 0, count: 16)
    for i in 0..<blocks {
      let x = src + i * 256
      let b = dst + i * blockBytes
      var maxScale: Float = 0, maxAbsScale: Float = 0
      for s in 0..<16 {
        let scale = KQuantSearch.makeQX(n: 16, nmax: 32, x: x + 16 * s, L: L + 16 * s)
        scales[s] = scale
        if abs(scale) > maxAbsScale {
          maxAbsScale = abs(scale)
          maxScale = scale
        }
      }
      if maxAbsScale < 1e-15 {
        for k in 0..<blockBytes { b.setU8(k, 0) }
        continue
      }
      let iscale = -128 / maxScale
      b.setHalf(208, 1 / iscale)
      for s in 0..<16 { b.setI8(192 + s, Int8(truncatingIfNeeded: min(127, nearestInt(iscale * scales[s])))) }
      let dAll = UnsafeRawPointer(b).half(208)
      for s in 0..<16 {
        let d = dAll * Float(UnsafeRawPointer(b).i8(192 + s))
        if d == 0 { continue }
        for ii in 0..<16 {
          let l = nearestInt(x[16 * s + ii] / d)
          L[16 * s + ii] = Int8(max(-32, min(31, l)) + 32)
        }
      }
      var ql = b, qh = b + 128
      for j in stride(from: 0, to: 256, by: 128) {
        for l in 0..<32 {
          let v0 = UInt8(L[j + l]), v1 = UInt8(L[j + l + 32]), v2 = UInt8(L[j + l + 64]), v3 = UInt8(L[j + l + 96])
          ql.setU8(l, (v0 & 0xF) | ((v2 & 0xF) << 4))
          ql.setU8(l + 32, (v1 & 0xF) | ((v3 & 0xF) << 4))
          qh.setU8(l, (v0 >> 4) | ((v1 >> 4) << 2) | ((v2 >> 4) << 4) | ((v3 >> 4) << 6))
        }
        ql += 64
        qh += 32
      }
    }
  }
}

// Q4_K: super-blocks of 256 = 8 sub-blocks of 32. Layout (144 bytes):
//   fp16 d | fp16 dmin | scales[12] (8 six-bit scales + 8 six-bit mins) | qs[128] (nibbles)
// x = d * sc[j] * q - dmin * m[j]. Within each 64 elements, the low nibbles of 32 bytes hold the
// first 32 values and the high nibbles the next 32.

enum Q4KRef {
  static let blockBytes = 144

  /// Unpacks sub-block j's 6-bit scale and min from the 12 packed bytes (ggml `get_scale_min_k4`).
  @inline(__always)
  static func scaleMin(_ j: Int, _ s: UnsafeRawPointer) -> (sc: UInt8, m: UInt8) {
    if j < 4 { return (s.u8(j) & 63, s.u8(j + 4) & 63) }
    let sc = (s.u8(j + 4) & 0xF) | ((s.u8(j - 4) >> 6) << 4)
    let m = (s.u8(j + 4) >> 4) | ((s.u8(j) >> 6) << 4)
    return (sc, m)
  }

  /// Packs eight 6-bit scales and mins into 12 bytes (the inverse of `scaleMin`).
  static func packScaleMins(_ ls: [UInt8], _ lm: [UInt8], into s: UnsafeMutableRawPointer) {
    for j in 0..<12 { s.setU8(j, 0) }
    for j in 0..<8 {
      if j < 4 {
        s.setU8(j, ls[j])
        s.setU8(j + 4, lm[j])
      } else {
        s.setU8(j + 4, (ls[j] & 0xF) | ((lm[j] & 0xF) << 4))
        s.setU8(j - 4, s.u8(j - 4) | ((ls[j] >> 4) << 6))
        s.setU8(j, s.u8(j) | ((lm[j] >> 4) << 6))
      }
    }
  }

  static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * blockBytes
      let d = b.half(0), dmin = b.half(2)
      let scales = b + 4
      var q = b + 16
      var y = dst + i * 256
      for j in stride(from: 0, to: 8, by: 2) {
        let (sc1, m1) = scaleMin(j, scales)
        let (sc2, m2) = scaleMin(j + 1, scales)
        let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
        let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
        for l in 0..<32 { y[l] = d1 * Float(q.u8(l) & 0xF) - mm1 }
        for l in 0..<32 { y[32 + l] = d2 * Float(q.u8(l) >> 4) - mm2 }
        q += 32
        y += 64
      }
    }
  }

  /// ggml `quantize_row_q4_K_ref`.
  static func quantize(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    KQuantCommon.quantizeScaleMin(src, dst, blocks: blocks, nmax: 15, rmin: -1, rdelta: 0.1, nstep: 20) { b, L in
      // Pack 4-bit values: 32 bytes per 64 elements, low nibble first half.
      let q = b + 16
      for j in stride(from: 0, to: 256, by: 64) {
        for l in 0..<32 { q.setU8(j / 2 + l, L[j + l] | (L[j + l + 32] << 4)) }
      }
    }
  }
}

enum KQuantCommon {
  /// The shared body of the Q4_K/Q5_K reference quantizers: per sub-block scale/min search,
  /// 6-bit quantization of scales and mins against the super-block's largest, then requantization
  /// of the values with the rounded scales. `pack` writes the values L (0...nmax) into the block.
  static func quantizeScaleMin(
    _ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int, nmax: Int,
    rmin: Float, rdelta: Float, nstep: Int, pack: (UnsafeMutableRawPointer, UnsafeMutablePointer<UInt8>) -> Void
  ) {
    let bytes = nmax == 15 ? Q4KRef.blockBytes : Q5KRef.blockBytes
    let L = UnsafeMutablePointer<UInt8>.allocate(capacity: 256)
    let Laux = UnsafeMutablePointer<UInt8>.allocate(capacity: 32)
    let weights = UnsafeMutablePointer<Float>.allocate(capacity: 32)
    defer { L.deallocate(); Laux.deallocate(); weights.deallocate() }
    var scales = [Float](repeating: 0, count: 8), mins = [Float](repeating: 0, count: 8)
    var ls = [UInt8](repeating: 0, count: 8), lm = [UInt8](repeating: 0, count: 8)

    for i in 0..<blocks {
      let x = src + i * 256
      let b = dst + i * bytes
      var maxScale: Float = 0, maxMin: Float = 0
      for j in 0..<8 {
        let xs = x + 32 * j
        var sumX2: Float = 0
        for l in 0..<32 { sumX2 += xs[l] * xs[l] }
        let avX = (sumX2 / 32).squareRoot()
        for l in 0..<32 { weights[l] = avX + abs(xs[l]) }
        let r = KQuantSearch.makeQKX2(
          n: 32, nmax: nmax, x: xs, weights: weights, L: L + 32 * j, Laux: Laux, rmin: rmin, rdelta: rdelta, nstep: nstep)
        scales[j] = r.scale
        mins[j] = r.theMin
        if r.scale > maxScale { maxScale = r.scale }
        if r.theMin > maxMin { maxMin = r.theMin }
      }
      let invScale: Float = maxScale > 0 ? 63 / maxScale : 0
      let invMin: Float = maxMin > 0 ? 63 / maxMin : 0
      for j in 0..<8 {
        ls[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invScale * scales[j])))
        lm[j] = min(63, UInt8(truncatingIfNeeded: nearestInt(invMin * mins[j])))
      }
      Q4KRef.packScaleMins(ls, lm, into: b + 4)
      b.setHalf(0, maxScale / 63)
      b.setHalf(2, maxMin / 63)

      let dAll = Half.toFloat(UnsafeRawPointer(b).u16(0)), dminAll = Half.toFloat(UnsafeRawPointer(b).u16(2))
      for j in 0..<8 {
        let (sc, m) = Q4KRef.scaleMin(j, UnsafeRawPointer(b + 4))
        let d = dAll * Float(sc)
        if d == 0 { continue }
        let dm = dminAll * Float(m)
        for ii in 0..<32 {
          let l = nearestInt((x[32 * j + ii] + dm) / d)
          L[32 * j + ii] = UInt8(max(0, min(nmax, l)))
        }
      }
      pack(b, L)
    }
  }
}

// Q5_K: like Q4_K with a fifth bit per value. Layout (176 bytes):
//   fp16 d | fp16 dmin | scales[12] | qh[32] | qs[128]
// For the 64 elements of pair p (p = 0..3), bit 2p of qh[l] is the high bit of element l and bit
// 2p+1 that of element 32 + l.

enum Q5KRef {
  static let blockBytes = 176

  static func dequantize(_ src: UnsafeRawPointer, _ dst: UnsafeMutablePointer<Float>, blocks: Int) {
    for i in 0..<blocks {
      let b = src + i * blockBytes
      let d = b.half(0), dmin = b.half(2)
      let scales = b + 4
      let qh = b + 16
      var ql = b + 48
      var y = dst + i * 256
      var u1: UInt8 = 1, u2: UInt8 = 2
      for j in stride(from: 0, to: 8, by: 2) {
        let (sc1, m1) = Q4KRef.scaleMin(j, scales)
        let (sc2, m2) = Q4KRef.scaleMin(j + 1, scales)
        let d1 = d * Float(sc1), mm1 = dmin * Float(m1)
        let d2 = d * Float(sc2), mm2 = dmin * Float(m2)
        for l in 0..<32 { y[l] = d1 * Float(Int(ql.u8(l) & 0xF) + (qh.u8(l) & u1 != 0 ? 16 : 0)) - mm1 }
        for l in 0..<32 { y[32 + l] = d2 * Float(Int(ql.u8(l) >> 4) + (qh.u8(l) & u2 != 0 ? 16 : 0)) - mm2 }
        ql += 32
        y += 64
        u1 <<= 2
        u2 <<= 2
      }
    }
  }

  /// ggml `quantize_row_q5_K_ref`.
  static func quantize(_ src: UnsafePointer<Float>, _ dst: UnsafeMutableRawPointer, blocks: Int) {
    KQuantCommon.quantizeScaleMin(src, dst, blocks: blocks, nmax: 31, rmin: -0.5, rdelta: 0.1, nstep: 15) { b, L in
      let qh = b + 16
      let ql = b + 48
      for l in 0..<32 { qh.setU8(l, 0) }
      var m1: UInt8 = 1, m2: UInt8 = 2
      for n in stride(from: 0, to: 256, by: 64) {
        for j in 0..<32 {
          var l1 = L[n + j], l2 = L[n + j + 32]
          if l1 > 15 { l1 -= 16; qh.setU8(j, UnsafeRawPointer(qh).u8(j) | m1) }
          if l2 > 15 { l2 -= 16; qh.setU8(j, UnsafeRawPointer(qh).u8(j) | m2) }
          ql.setU8(n / 2 + j, l1 | (l2 << 4))
        }
        m1 <<= 2
        m2 <<= 2
      }
    }
  }
}

// The scale searches behind ggml's reference K-quant quantizers (`make_qkx2_quants` and
// `make_qx_quants` in ggml-quants.c), kept operation for operation so that Hearth's quantizer
// picks the same scales as llama-quantize without an importance matrix. (ggml built with FMA
// contraction can differ in the last bit of a few sums; the searches here round every step.)

enum KQuantSearch {
  /// Chooses scale and min for x[0..<n] quantized to 0...nmax with x ≈ scale * L - theMin,
  /// minimizing the weighted squared error over a grid of candidate scales.
  /// Returns (scale, theMin) and fills L.
  static func makeQKX2(
    n: Int, nmax: Int, x: UnsafePointer<Float>, weights: UnsafePointer<Float>, L: UnsafeMutablePointer<UInt8>,
    Laux: UnsafeMutablePointer<UInt8>, rmin: Float, rdelta: Float, nstep: Int
  ) -> (scale: Float, theMin: Float) {
    var lo = x[0], hi = x[0]
    var sumW = weights[0]
    var sumX = sumW * x[0]
    for i in 1..<n {
      if x[i] < lo { lo = x[i] }
      if x[i] > hi { hi = x[i] }
      let w = weights[i]
      sumW += w
      sumX += w * x[i]
    }
    if lo > 0 { lo = 0 }
    if hi == lo {
      for i in 0..<n { L[i] = 0 }
      return (0, -lo)
    }
    var iscale = Float(nmax) / (hi - lo)
    var scale = 1 / iscale
    var bestError: Float = 0
    for i in 0..<n {
      let l = nearestInt(iscale * (x[i] - lo))
      L[i] = UInt8(max(0, min(nmax, l)))
      let diff = scale * Float(L[i]) + lo - x[i]
      bestError += weights[i] * (diff * diff)
    }
    if nstep < 1 { return (scale, -lo) }
    for step in 0...nstep {
      iscale = (rmin + rdelta * Float(step) + Float(nmax)) / (hi - lo)
      var sumL: Float = 0, sumL2: Float = 0, sumXL: Float = 0
      for i in 0..<n {
        let l = max(0, min(nmax, nearestInt(iscale * (x[i] - lo))))
        Laux[i] = UInt8(l)
        let w = weights[i], fl = Float(l)
        sumL += w * fl
        sumL2 += w * fl * fl
        sumXL += w * fl * x[i]
      }
      let D = sumW * sumL2 - sumL * sumL
      if D > 0 {
        var thisScale = (sumW * sumXL - sumX * sumL) / D
        var thisMin = (sumL2 * sumX - sumL * sumXL) / D
        if thisMin > 0 {
          thisMin = 0
          thisScale = sumXL / sumL2
        }
        var curError: Float = 0
        for i in 0..<n {
          let diff = thisScale * Float(Laux[i]) + thisMin - x[i]
          curError += weights[i] * (diff * diff)
        }
        if curError < bestError {
          for i in 0..<n { L[i] = Laux[i] }
          bestError = curError
          scale = thisScale
          lo = thisMin
        }
      }
    }
    return (scale, -lo)
  }

  /// Symmetric search (`make_qx_quants` with rmse_type 1 and no importance weights: w = x²):
  /// x ≈ scale * (L - nmax), L in 0..<2*nmax. Returns the scale and fills L.
  static func makeQX(n: Int, nmax: Int, x: UnsafePointer<Float>, L: UnsafeMutablePointer<Int8>) -> Float {
    var amax: Float = 0, max: Float = 0
    for i in 0..<n where abs(x[i]) > amax {
      amax = abs(x[i])
      max = x[i]
    }
    if amax < 1e-15 {  // GROUP_MAX_EPS: all zero
      for i in 0..<n { L[i] = 0 }
      return 0
    }
    var iscale = Float(-nmax) / max
    var sumLX: Float = 0, sumL2: Float = 0
    for i in 0..<n {
      let l = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i])))
      L[i] = Int8(l + nmax)
      let w = x[i] * x[i], fl = Float(l)
      sumLX += w * x[i] * fl
      sumL2 += w * fl * fl
    }
    var scale: Float = sumL2 != 0 ? sumLX / sumL2 : 0
    var best = scale * sumLX
    for step in -9...9 where step != 0 {
      iscale = -(Float(nmax) + 0.1 * Float(step)) / max
      sumLX = 0
      sumL2 = 0
      for i in 0..<n {
        let l = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i])))
        let w = x[i] * x[i], fl = Float(l)
        sumLX += w * x[i] * fl
        sumL2 += w * fl * fl
      }
      if sumL2 > 0 && sumLX * sumLX > best * sumL2 {
        for i in 0..<n {
          let l = Swift.max(-nmax, Swift.min(nmax - 1, nearestInt(iscale * x[i])))
          L[i] = Int8(l + nmax)
        }
        scale = sumLX / sumL2
        best = scale * sumLX
      }
    }
    return scale
  }
}

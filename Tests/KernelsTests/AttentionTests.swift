import CKernels
import Foundation
import Kernels
import Testing

/// The gated activations and the paged attention kernel of every level, against Double.
@Suite struct AttentionTests {
  @Test(arguments: KernelLevel.available)
  func gatedActivationsMatchDouble(_ level: KernelLevel) {
    var rng = Rng(3)
    for n in [1, 7, 8, 33, 1536] {
      // Wide inputs, including where exp over- or underflows (|x| > 88).
      var g = rng.normals(n, scale: 4)
      if n > 8 { g[0] = 95; g[1] = -95; g[2] = 0; g[3] = -20; g[4] = 1e-8 }
      let u = rng.normals(n)
      var silu = g, gelu = g
      silu.withUnsafeMutableBufferPointer { sp in u.withUnsafeBufferPointer { VecOps.siluMul(sp.baseAddress!, $0.baseAddress!, n, level: level) } }
      gelu.withUnsafeMutableBufferPointer { gp in u.withUnsafeBufferPointer { VecOps.geluMul(gp.baseAddress!, $0.baseAddress!, n, level: level) } }
      for i in 0..<n {
        // gelu_tanh's 0.5 x (1 + tanh(u)) as x / (1 + e^(-2u)), which has no cancellation for
        // negative x. The float error grows with the exponent's size (its rounding is scaled by
        // it), hence the tolerance's |arg| term.
        let x = Double(g[i]), up = Double(u[i])
        let siluArg = -x, geluArg = -1.5957691216057308 * (x + 0.044715 * x * x * x)
        let wantSilu = x / (1 + exp(siluArg)) * up
        let wantGelu = x / (1 + exp(geluArg)) * up
        func ok(_ got: Float, _ want: Double, _ arg: Double) -> Bool {
          abs(Double(got) - want) <= (2e-6 + 2e-7 * abs(arg)) * abs(want) + 1e-37 * max(1, abs(x * up))
        }
        #expect(ok(silu[i], wantSilu, siluArg), "silu(\(x)) * \(up): \(silu[i]) vs \(wantSilu)")
        #expect(ok(gelu[i], wantGelu, geluArg), "gelu(\(x)) * \(up): \(gelu[i]) vs \(wantGelu)")
      }
    }
  }

  struct Case: CustomStringConvertible, Sendable {
    let level: KernelLevel, headDim: Int, blockTokens: Int, f16: Bool
    var description: String { "\(level) hd=\(headDim) bt=\(blockTokens) \(f16 ? "f16" : "f32")" }
  }
  static let cases = KernelLevel.available.flatMap { l in
    [(16, 4), (64, 32), (72, 5), (256, 32)].flatMap { s in [false, true].map { Case(level: l, headDim: s.0, blockTokens: s.1, f16: $0) } }
  }

  /// Keys and values enter an f16 cache rounded to nearest even: every level gives the bits of
  /// the scalar reference conversion, on random values of every magnitude and on the edges
  /// (ties, the largest finite half, overflow to infinity, subnormals, signed zero).
  @Test(arguments: KernelLevel.available)
  func toF16MatchesReference(_ level: KernelLevel) {
    var rng = Rng(11)
    var x = (0..<4099).map { i -> Float in
      let e = Float(Int(rng.next() % 60)) - 30
      return rng.normal() * Float(pow(2.0, Double(e)))
    }
    x += [0, -0, 65504, 65519.99, 65520, -65520, 1e6, .infinity, -.infinity, 6.1035156e-05, 6.0e-08, 2.98e-08, 1.0009765625, 1.00048828125,
          1.00146484375, -2.5e-6]
    for n in [x.count, 1, 7, 8, 9] {
      var got = [UInt16](repeating: 0xFFFF, count: n)
      x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBufferPointer { Attention.toF16(xp.baseAddress!, $0.baseAddress!, count: n, level: level) } }
      for i in 0..<n { #expect(got[i] == hk_f32_to_fp16(x[i]), "\(x[i]): \(got[i]) vs \(hk_f32_to_fp16(x[i]))") }
    }
  }

  /// Queries over scattered cache blocks, with causal and sliding-window ranges (including a
  /// range that starts mid-block and one of a single key), against a Double softmax.
  @Test(arguments: cases)
  func pagedAttentionMatchesDouble(_ c: Case) {
    var rng = Rng(UInt64(c.headDim * 100 + c.blockTokens))
    let hd = c.headDim, bt = c.blockTokens, length = 70
    let blocks = (length + bt - 1) / bt
    // Blocks in a shuffled order inside a bigger pool, with another head's rows between.
    let heads = 2, head = 1, poolBlocks = blocks + 3
    let blockStride = heads * bt * hd
    var keys = rng.normals(poolBlocks * blockStride, scale: 2), values = rng.normals(poolBlocks * blockStride)
    // An f16 cache holds the values rounded; the Double reference uses the same rounded values.
    let keys16 = keys.map { hk_f32_to_fp16($0) }, values16 = values.map { hk_f32_to_fp16($0) }
    if c.f16 {
      keys = keys16.map { hk_fp16_lookup($0) }
      values = values16.map { hk_fp16_lookup($0) }
    }
    let table: [Int32] = (0..<blocks).map { Int32((($0 * 5) + 2) % poolBlocks) }
    func row(_ data: [Float], _ p: Int) -> ArraySlice<Float> {
      let start = Int(table[p / bt]) * blockStride + head * bt * hd + (p % bt) * hd
      return data[start..<(start + hd)]
    }
    let ranges: [(Int32, Int32)] = [(0, 0), (0, 69), (3, 40), (10, 10), (0, 31), (33, 64), (5, 68)]
    for count in [1, 3, 4, 5, 7] {
      let stride = hd + 3, outStride = hd + 1
      let q = rng.normals(count * stride)
      let lo = (0..<count).map { ranges[$0 % ranges.count].0 }, hi = (0..<count).map { ranges[$0 % ranges.count].1 }
      var out = [Float](repeating: .nan, count: count * outStride)
      var scratch = [Float](repeating: 0, count: Attention.scratchFloats(blockTokens: bt))
      let scale: Float = 1 / Float(hd).squareRoot()
      q.withUnsafeBufferPointer { qp in
        lo.withUnsafeBufferPointer { lp in
          hi.withUnsafeBufferPointer { hp in
            out.withUnsafeMutableBufferPointer { op in
              let qs = AttentionQueries(count: count, headDim: hd, q: qp.baseAddress!, stride: stride, lo: lp.baseAddress!,
                                        hi: hp.baseAddress!, out: op.baseAddress!, outStride: outStride)
              table.withUnsafeBufferPointer { tp in
                func run(_ k: UnsafeRawPointer, _ v: UnsafeRawPointer, _ bytes: Int) {
                  scratch.withUnsafeMutableBufferPointer { sp in
                    Attention.run(qs, table: tp.baseAddress!, blockTokens: bt, keys: k + head * bt * hd * bytes,
                                  values: v + head * bt * hd * bytes, blockStride: blockStride, f16: c.f16, scale: scale,
                                  scratch: sp.baseAddress!, level: c.level)
                  }
                }
                if c.f16 {
                  keys16.withUnsafeBufferPointer { kp in values16.withUnsafeBufferPointer { vp in run(kp.baseAddress!, vp.baseAddress!, 2) } }
                } else {
                  keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in run(kp.baseAddress!, vp.baseAddress!, 4) } }
                }
              }
            }
          }
        }
      }
      for i in 0..<count {
        let qi = q[(i * stride)..<(i * stride + hd)]
        let positions = Int(lo[i])...Int(hi[i])
        let scores = positions.map { p in zip(qi, row(keys, p)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } * Double(scale) }
        let m = scores.max()!
        let w = scores.map { exp($0 - m) }
        let total = w.reduce(0, +)
        for d in 0..<hd {
          var want = 0.0, mag = 0.0
          for (k, p) in positions.enumerated() {
            let v = Double(row(values, p)[row(values, p).startIndex + d])
            want += w[k] / total * v
            mag += w[k] / total * abs(v)
          }
          let got = Double(out[i * outStride + d])
          #expect(abs(got - want) <= 1e-5 * mag + 1e-6, "count=\(count) query \(i) dim \(d): \(got) vs \(want)")
        }
      }
      for i in 0..<count where outStride > hd { #expect(out[i * outStride + hd].isNaN, "query \(i): wrote past its row") }
    }
  }

  /// Split-K decoding: the same queries over disjoint key ranges (block-aligned, mid-block and
  /// empty ones), merged by their log-sum-exps, give the whole range's output; and each call's
  /// log-sum-exp is the Double one.
  @Test(arguments: cases)
  func splitRangesMergeToWholeRange(_ c: Case) {
    var rng = Rng(UInt64(c.headDim * 7 + c.blockTokens))
    let hd = c.headDim, bt = c.blockTokens, length = 70, count = 7
    let blocks = (length + bt - 1) / bt
    var keys = rng.normals(blocks * bt * hd, scale: 2), values = rng.normals(blocks * bt * hd)
    let keys16 = keys.map { hk_f32_to_fp16($0) }, values16 = values.map { hk_f32_to_fp16($0) }
    if c.f16 {
      keys = keys16.map { hk_fp16_lookup($0) }
      values = values16.map { hk_fp16_lookup($0) }
    }
    let table = (0..<blocks).map(Int32.init)
    let q = rng.normals(count * hd)
    let scale: Float = 1 / Float(hd).squareRoot()
    var scratch = [Float](repeating: 0, count: Attention.scratchFloats(blockTokens: bt))
    /// Queries first..<first + n (all by default) over keys lo...hi: outputs and log-sum-exps.
    func run(_ lo: Int32, _ hi: Int32, first: Int = 0, n: Int = count) -> ([Float], [Float]) {
      let los = [Int32](repeating: lo, count: n), his = [Int32](repeating: hi, count: n)
      var out = [Float](repeating: .nan, count: n * hd), lse = [Float](repeating: .nan, count: n)
      q.withUnsafeBufferPointer { qp in
        los.withUnsafeBufferPointer { lp in
          his.withUnsafeBufferPointer { hp in
            out.withUnsafeMutableBufferPointer { op in
              let qs = AttentionQueries(count: n, headDim: hd, q: qp.baseAddress! + first * hd, stride: hd, lo: lp.baseAddress!,
                                        hi: hp.baseAddress!, out: op.baseAddress!, outStride: hd)
              func call(_ k: UnsafeRawPointer, _ v: UnsafeRawPointer) {
                table.withUnsafeBufferPointer { tp in
                  scratch.withUnsafeMutableBufferPointer { sp in
                    lse.withUnsafeMutableBufferPointer { lsp in
                      Attention.run(qs, table: tp.baseAddress!, blockTokens: bt, keys: k, values: v, blockStride: bt * hd, f16: c.f16,
                                    scale: scale, scratch: sp.baseAddress!, lse: lsp.baseAddress!, level: c.level)
                    }
                  }
                }
              }
              if c.f16 {
                keys16.withUnsafeBufferPointer { kp in values16.withUnsafeBufferPointer { vp in call(kp.baseAddress!, vp.baseAddress!) } }
              } else {
                keys.withUnsafeBufferPointer { kp in values.withUnsafeBufferPointer { vp in call(kp.baseAddress!, vp.baseAddress!) } }
              }
            }
          }
        }
      }
      return (out, lse)
    }
    let (whole, wholeLse) = run(0, Int32(length - 1))
    for i in 0..<count {
      let scores = (0..<length).map { p in
        (0..<hd).reduce(0.0) { $0 + Double(q[i * hd + $1]) * Double(keys[p * hd + $1]) } * Double(scale)
      }
      let m = scores.max()!
      let want = m + log(scores.reduce(0.0) { $0 + exp($1 - m) })
      #expect(abs(Double(wholeLse[i]) - want) < 1e-5 * max(1, abs(want)), "query \(i): lse \(wholeLse[i]) vs \(want)")
    }
    // Batch invariance: a query gives the same bits alone as in a tile of two, three or four.
    for first in 0..<count {
      let (alone, aloneLse) = run(0, Int32(length - 1), first: first, n: 1)
      #expect(alone == Array(whole[(first * hd)..<((first + 1) * hd)]) && aloneLse[0] == wholeLse[first],
              "query \(first) alone differs from its result among \(count)")
    }
    let (pair, _) = run(0, Int32(length - 1), first: 1, n: 2)
    #expect(pair == Array(whole[hd..<(3 * hd)]), "queries 1-2 as a pair differ")
    let (_, emptyLse) = run(40, 39)
    #expect(emptyLse.allSatisfy { $0 == -.infinity }, "an empty range's log-sum-exp is -infinity")
    for cuts in [[0, 32, 64, 70], [0, 13, 14, 40, 40, 70], [0, 69, 70]] {
      var outs: [Float] = [], lses: [Float] = []
      for r in 0..<(cuts.count - 1) {
        let (o, l) = run(Int32(cuts[r]), Int32(cuts[r + 1] - 1))
        outs += o
        lses += l
      }
      let parts = cuts.count - 1
      var merged = [Float](repeating: .nan, count: hd)
      for i in 0..<count {
        outs.withUnsafeBufferPointer { op in
          lses.withUnsafeBufferPointer { lp in
            merged.withUnsafeMutableBufferPointer {
              Attention.merge(parts: parts, outputs: op.baseAddress! + i * hd, partStride: count * hd, lse: lp.baseAddress! + i,
                              lseStride: count, headDim: hd, into: $0.baseAddress!)
            }
          }
        }
        for d in 0..<hd {
          let w = whole[i * hd + d]
          #expect(abs(merged[d] - w) <= 1e-5 * max(1, abs(w)), "cuts \(cuts) query \(i) dim \(d): \(merged[d]) vs \(w)")
        }
      }
    }
  }
}

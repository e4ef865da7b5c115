import CKernels
import GGUF
import Kernels
import Testing

/// The Q16 (int16 activation) kernels of every level against the Swift reference.
@Suite struct Q16KernelTests {
  static let quantTypes: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

  struct Case: CustomStringConvertible, Sendable {
    let level: KernelLevel, type: GGMLType
    var description: String { "\(level) \(type.name)" }
  }
  static let cases = KernelLevel.available.flatMap { l in quantTypes.map { Case(level: l, type: $0) } }

  static func q16(_ x: [Float]) -> [UInt8] { x.withUnsafeBufferPointer { Q16.quantize($0.baseAddress!, count: x.count) } }

  /// Σ|a_i|(|w_i| + |o_i|) for a Q16 activation row (see `dotMagnitude`).
  static func magnitude(_ type: GGMLType, _ w: [UInt8], _ act: [UInt8], _ n: Int) -> Double {
    var a = [Float](repeating: 0, count: n)
    act.withUnsafeBytes { p in a.withUnsafeMutableBufferPointer { Q16.dequantize(p.baseAddress!, count: n, into: $0.baseAddress!) } }
    let f32 = a.withUnsafeBytes { Array($0) }
    return dotMagnitude(.f32, dequantized(type, w, n).withUnsafeBytes { Array($0) }, f32, n)
      + offsetMagnitude(type, w, a, n)
  }

  static func offsetMagnitude(_ type: GGMLType, _ w: [UInt8], _ a: [Float], _ n: Int) -> Double {
    guard [.q4_1, .q5_1, .q4_K, .q5_K].contains(type) else { return 0 }
    // The offset terms alone: the weights with every quant zeroed.
    var zeroed = w
    let size = type.typeSize, keep = type == .q4_1 || type == .q5_1 ? 4 : 16
    for b in 0..<(n / type.blockSize) { for k in keep..<size { zeroed[b * size + k] = 0 } }
    let o = dequantized(type, zeroed, n)
    var m = 0.0
    for i in 0..<n { m += Double(abs(a[i])) * Double(abs(o[i])) }
    return m
  }

  static func check(_ got: Float, _ want: Double, _ mag: Double) -> Bool { FastKernelTests.close(got, want, magnitude: mag) }

  @Test(arguments: KernelLevel.available)
  func quantizationIsBitExact(_ level: KernelLevel) {
    var rng = Rng(7)
    for n in [32, 256, 2048] {
      var x = rng.normals(n, scale: 3)
      // Exact halves after scaling exercise the rounding rule (amax 31 -> d = 31/32767); a zero
      // group, a tiny one and one whose largest magnitude appears with both signs the edges.
      for i in 0..<32 { x[i] = Float(i) - 15.5 }
      x[31] = 31
      if n >= 256 {
        for i in 64..<96 { x[i] = 0 }
        for i in 96..<128 { x[i] = Float(i - 100) * 1e-30 }
        x[128] = -4; x[129] = 4
      }
      let want = Self.q16(x)
      var got = [UInt8](repeating: 0xAA, count: want.count)
      x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBytes { level.quantizeQ16(xp.baseAddress!, count: n, into: $0.baseAddress!) } }
      #expect(got == want, "\(level) n=\(n)")
    }
    // The format: values (even elements, then odd), then scales, then scale * sum; the extremes
    // reach ±32767.
    let x: [Float] = (0..<32).map { Float($0) - 16 }
    let row = Self.q16(x)
    row.withUnsafeBytes { p in
      #expect(p.load(fromByteOffset: 0, as: Int16.self) == -32767)
      #expect(p.load(fromByteOffset: 2, as: Int16.self) == Int16((Float(-14) * (32767 / Float(16))).rounded()))
      #expect(p.load(fromByteOffset: 32, as: Int16.self) == Int16((Float(-15) * (32767 / Float(16))).rounded()))
      #expect(p.loadUnaligned(fromByteOffset: 64, as: Float.self) == Float(16) / 32767)
      let sum = (0..<32).reduce(0) { $0 + Int(p.loadUnaligned(fromByteOffset: 2 * $1, as: Int16.self)) }
      #expect(p.loadUnaligned(fromByteOffset: 68, as: Float.self) == Float(16) / 32767 * Float(sum))
    }
  }

  @Test(arguments: cases)
  func vecDotMatchesReference(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 17 + UInt64(c.level.rawValue))
    for n in FastKernelTests.sizes(c.type) {
      for random in [false, true] {
        let w = weightRow(c.type, n, random: random, rng: &rng)
        let act = Self.q16(rng.normals(n))
        let want = w.withUnsafeBytes { wp in act.withUnsafeBytes { Reference.dotQ16(c.type, wp.baseAddress!, $0.baseAddress!, count: n) } }
        let got = w.withUnsafeBytes { wp in act.withUnsafeBytes { c.level.vecDotQ16(c.type, wp.baseAddress!, $0.baseAddress!, count: n) } }
        let mag = Self.magnitude(c.type, w, act, n)
        #expect(Self.check(got, want, mag), "n=\(n) random=\(random): got \(got) want \(want) (magnitude \(mag))")
      }
    }
  }

  /// Decode's row loop (`hk_dot_rows_q16`: the dot inlined into a loop over rows, where the level
  /// has one) gives each (row, token) pair exactly what one `vecDotQ16` call gives, for one token
  /// and for a few (the 512-bit kernels take four tokens per pass, so 6 needs two), with rows of
  /// whole quads, a short last quad, and longer than those kernels take (4160: the 256-bit ones).
  @Test(arguments: cases)
  func decodeRowLoopEqualsOneDotPerRow(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 7 + 1)
    let sizes = c.type.blockSize == 256 ? [768] : [576, 640, 4160]
    for n in sizes {
      let rowBytes = TypeTraits.of(c.type)!.rowBytes(n), rows = 13
      var w: [UInt8] = []
      for r in 0..<rows { w += weightRow(c.type, n, random: r % 2 == 0, rng: &rng) }
      for tokens in [1, 3, 6] {
        let acts = (0..<tokens).map { _ in Self.q16(rng.normals(n, scale: 3)) }
        let act = acts.flatMap { $0 }, aStride = acts[0].count
        // Output rows are rows + 2 apart: the gap shows a write past the rows.
        let outStride = rows + 2
        var out = [Float](repeating: .nan, count: tokens * outStride)
        w.withUnsafeBytes { wp in
          act.withUnsafeBytes { ap in
            out.withUnsafeMutableBufferPointer { op in
              hk_dot_rows_q16(hk_kernels_for_level(Int32(c.level.rawValue))!, Int32(c.type.rawValue), Int32(n), wp.baseAddress!,
                              rowBytes, Int32(rows), ap.baseAddress!, aStride, Int32(tokens), op.baseAddress!, outStride)
            }
          }
        }
        for t in 0..<tokens {
          for r in 0..<rows {
            let one = w.withUnsafeBytes { wp in
              acts[t].withUnsafeBytes { c.level.vecDotQ16(c.type, wp.baseAddress! + r * rowBytes, $0.baseAddress!, count: n) }
            }
            let got = out[t * outStride + r]
            #expect(got.bitPattern == one.bitPattern, "n=\(n) tokens=\(tokens) row \(r) token \(t): \(got) vs \(one)")
          }
          #expect(out[t * outStride + rows].isNaN && out[t * outStride + rows + 1].isNaN, "n=\(n) tokens=\(tokens): wrote past the rows")
        }
      }
    }
  }

  /// The multi-row kernel over odd row and token counts (tails of 8-row tiles and 4-token
  /// steps), against the reference per pair, with nothing written outside the rows.
  @Test(arguments: cases)
  func gemmMatchesReference(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 5 + 3)
    let n = c.type.blockSize == 256 ? 512 : 320
    let rowBytes = TypeTraits.of(c.type)!.rowBytes(n)
    for (rows, tokens) in [(1, 1), (3, 4), (8, 5), (9, 7), (13, 2), (17, 67)] {
      var w: [UInt8] = []
      for r in 0..<rows { w += weightRow(c.type, n, random: r % 2 == 1, rng: &rng) }
      let acts = (0..<tokens).map { _ in Self.q16(rng.normals(n, scale: 2)) }
      let a = acts.flatMap { $0 }
      let outStride = rows + 3
      var out = [Float](repeating: .nan, count: tokens * outStride)
      w.withUnsafeBytes { wp in
        a.withUnsafeBytes { ap in
          out.withUnsafeMutableBufferPointer { op in
            c.level.gemmQ16(c.type, count: n, wp.baseAddress!, wStride: rowBytes, rows: rows, ap.baseAddress!,
                            aStride: acts[0].count, tokens: tokens, op.baseAddress!, outStride: outStride)
          }
        }
      }
      for t in 0..<tokens {
        for r in 0..<rows {
          let wr = Array(w[(r * rowBytes)..<((r + 1) * rowBytes)])
          let want = wr.withUnsafeBytes { wp in acts[t].withUnsafeBytes { Reference.dotQ16(c.type, wp.baseAddress!, $0.baseAddress!, count: n) } }
          let got = out[t * outStride + r]
          #expect(Self.check(got, want, Self.magnitude(c.type, wr, acts[t], n)), "rows=\(rows) tokens=\(tokens) r=\(r) t=\(t): got \(got) want \(want)")
        }
        for r in rows..<outStride { #expect(out[t * outStride + r].isNaN, "wrote past the rows") }
      }
    }
  }

  /// Weights at their most extreme codes against activations all at ±32767: the int32 sums
  /// must not overflow (the worst case is Q8_0's -128 and Q5_K's 31 with scale 63).
  @Test(arguments: cases)
  func extremeValuesDoNotOverflow(_ c: Case) {
    let n = 512
    let blocks = n / c.type.blockSize, size = c.type.typeSize
    for fill in [UInt8(0x00), 0xFF, 0x80] {
      var w = [UInt8](repeating: fill, count: blocks * size)
      // fp16 scales of 1; Q6_K's int8 sub-block scales at -128 (the largest |scale * (q - 32)|
      // is 128 * 32, with q = 0 when the fill is 0).
      for b in 0..<blocks {
        for off in halfFields[c.type]! { w[b * size + off] = 0x00; w[b * size + off + 1] = 0x3C }
        if c.type == .q6_K { for k in 192..<208 { w[b * size + k] = 0x80 } }
      }
      for sign: Float in [1, -1] {
        let x = [Float](repeating: sign, count: n)
        let act = Self.q16(x)
        let want = w.withUnsafeBytes { wp in act.withUnsafeBytes { Reference.dotQ16(c.type, wp.baseAddress!, $0.baseAddress!, count: n) } }
        let got = w.withUnsafeBytes { wp in act.withUnsafeBytes { c.level.vecDotQ16(c.type, wp.baseAddress!, $0.baseAddress!, count: n) } }
        var out = [Float](repeating: 0, count: 9)
        let rowsW = (0..<9).flatMap { _ in w }
        rowsW.withUnsafeBytes { wp in
          act.withUnsafeBytes { ap in
            out.withUnsafeMutableBufferPointer {
              c.level.gemmQ16(c.type, count: n, wp.baseAddress!, wStride: w.count, rows: 9, ap.baseAddress!, aStride: act.count,
                              tokens: 1, $0.baseAddress!, outStride: 9)
            }
          }
        }
        let mag = Self.magnitude(c.type, w, act, n)
        #expect(Self.check(got, want, mag), "fill \(fill) sign \(sign): vec_dot \(got) want \(want)")
        for r in 0..<9 { #expect(Self.check(out[r], want, mag), "fill \(fill) sign \(sign): gemm row \(r) \(out[r]) want \(want)") }
      }
    }
  }
}

import GGUF
import Kernels
import Testing

/// Every kernel level this CPU runs, against the scalar Swift reference.
@Suite struct FastKernelTests {
  static let weightTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

  static func sizes(_ type: GGMLType) -> [Int] {
    switch type.blockSize {
    case 256: return [256, 768, 2048]
    // (576: a short last quad of two groups for the 512-bit kernels; 4160: past their 4096.)
    case 32: return [32, 96, 576, 640, 2048, 4160]
    default: return [1, 7, 33, 640, 2051]
    }
  }

  struct Case: CustomStringConvertible, Sendable {
    let level: KernelLevel, type: GGMLType
    var description: String { "\(level) \(type.name)" }
  }
  static let cases = KernelLevel.available.flatMap { l in weightTypes.map { Case(level: l, type: $0) } }

  @Test func levelsDetected() {
    #expect(KernelLevel.available.first == .scalar)
    if CPUFeatures.current.avx2 && CPUFeatures.current.fma && CPUFeatures.current.f16c {
      #expect(KernelLevel.available.contains(.avx2), "AVX2 CPU without the AVX2 kernels")
    }
    let f = CPUFeatures.current
    #expect(KernelLevel.available.contains(.avx512vnni) == (f.avx2 && f.fma && f.f16c && f.avx512f && f.avx512bw && f.avx512vl && f.avx512vnni))
    print("CPU: \(CPUFeatures.current); kernel levels: \(KernelLevel.available); preferred: \(KernelLevel.preferred)")
  }

  /// |fast - reference| within float rounding of the block sums.
  static func close(_ got: Float, _ want: Double, magnitude: Double) -> Bool {
    abs(Double(got) - want) <= 2e-6 * magnitude + 1e-5 * abs(want) + 1e-30
  }

  @Test(arguments: cases)
  func vecDotMatchesReference(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 31 + UInt64(c.level.rawValue))
    for n in Self.sizes(c.type) {
      for random in [false, true] {
        let w = weightRow(c.type, n, random: random, rng: &rng)
        let act = activationRow(for: c.type, rng.normals(n))
        let want = w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in Reference.dot(c.type, wp.baseAddress!, ap.baseAddress!, count: n) } }
        let got = w.withUnsafeBytes { wp in act.withUnsafeBytes { ap in c.level.vecDot(c.type, wp.baseAddress!, ap.baseAddress!, count: n) } }
        let mag = dotMagnitude(c.type, w, act, n)
        #expect(Self.close(got, want, magnitude: mag), "n=\(n) random=\(random): got \(got) want \(want) (magnitude \(mag))")
      }
    }
  }

  @Test(arguments: KernelLevel.available)
  func activationQuantizationIsBitExact(_ level: KernelLevel) {
    var rng = Rng(99)
    for type in TypeTraits.activationTypes {
      for n in [256, 512, 2048] {
        var x = rng.normals(n, scale: 3)
        // Exact halves after scaling exercise the rounding rule; a zero block and a block whose
        // largest magnitude appears with both signs exercise the edge paths.
        for i in 0..<32 { x[i] = Float(i) - 15.5 }
        if n >= 512 { for i in 256..<512 { x[i] = 0 } }
        x[n - 200] = -4; x[n - 199] = 4
        let want = x.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: n) }
        var got = [UInt8](repeating: 0xAA, count: want.count)
        x.withUnsafeBufferPointer { xp in got.withUnsafeMutableBytes { level.quantizeActivations(type, xp.baseAddress!, count: n, into: $0.baseAddress!) } }
        #expect(got == want, "\(level) \(type.name) n=\(n)")
      }
    }
  }

  /// The multi-row kernel over odd row and token counts, against the reference per pair.
  @Test(arguments: cases)
  func gemmMatchesReference(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 7 + 5)
    let n = c.type.blockSize == 256 ? 512 : (c.type.blockSize == 32 ? 320 : 77)
    let rowBytes = TypeTraits.of(c.type)!.rowBytes(n)
    for (rows, tokens) in [(1, 1), (2, 4), (3, 5), (4, 4), (5, 7), (7, 2), (9, 3), (13, 67)] {
      var w: [UInt8] = []
      for r in 0..<rows { w += weightRow(c.type, n, random: r % 2 == 1, rng: &rng) }
      var acts: [[UInt8]] = []
      for _ in 0..<tokens { acts.append(activationRow(for: c.type, rng.normals(n))) }
      let actBytes = acts[0].count
      let a = acts.flatMap { $0 }
      let outStride = rows + 3
      var out = [Float](repeating: .nan, count: tokens * outStride)
      w.withUnsafeBytes { wp in
        a.withUnsafeBytes { ap in
          out.withUnsafeMutableBufferPointer { op in
            c.level.gemm(c.type, count: n, wp.baseAddress!, wStride: rowBytes, rows: rows, ap.baseAddress!, aStride: actBytes,
                         tokens: tokens, op.baseAddress!, outStride: outStride)
          }
        }
      }
      for t in 0..<tokens {
        for r in 0..<rows {
          let wr = Array(w[(r * rowBytes)..<((r + 1) * rowBytes)])
          let want = wr.withUnsafeBytes { wp in acts[t].withUnsafeBytes { Reference.dot(c.type, wp.baseAddress!, $0.baseAddress!, count: n) } }
          let got = out[t * outStride + r]
          let mag = dotMagnitude(c.type, wr, acts[t], n)
          #expect(Self.close(got, want, magnitude: mag), "rows=\(rows) tokens=\(tokens) r=\(r) t=\(t): got \(got) want \(want)")
        }
        for r in rows..<outStride { #expect(out[t * outStride + r].isNaN, "wrote past the rows") }
      }
    }
  }

  @Test(arguments: KernelLevel.available)
  func vecOpsMatchScalar(_ level: KernelLevel) {
    var rng = Rng(5)
    for n in [0, 1, 7, 8, 31, 32, 33, 640, 2051] {
      let a = rng.normals(n), b = rng.normals(n)
      var exact = 0.0, mag = 0.0
      for i in 0..<n { exact += Double(a[i]) * Double(b[i]); mag += Double(abs(a[i] * b[i])) }
      let d = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { VecOps.dot(ap.baseAddress!, $0.baseAddress!, n, level: level) } }
      #expect(abs(Double(d) - exact) <= 1e-6 * mag + 1e-7, "dot n=\(n)")
      var y = b
      a.withUnsafeBufferPointer { ap in y.withUnsafeMutableBufferPointer { VecOps.axpy(0.75, ap.baseAddress!, $0.baseAddress!, n, level: level) } }
      for i in 0..<n { #expect(abs(y[i] - (b[i] + 0.75 * a[i])) <= 1e-6 * (abs(b[i]) + abs(a[i]))) }
      y.withUnsafeMutableBufferPointer { VecOps.scale(-2, $0.baseAddress!, n, level: level) }
      for i in 0..<n { #expect(abs(y[i] + 2 * (b[i] + 0.75 * a[i])) <= 4e-6 * (abs(b[i]) + abs(a[i]))) }
    }
    // The default-level entry points agree with the explicit one.
    let a = rng.normals(100), b = rng.normals(100)
    let d1 = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { VecOps.dot(ap.baseAddress!, $0.baseAddress!, 100) } }
    let d2 = a.withUnsafeBufferPointer { ap in b.withUnsafeBufferPointer { VecOps.dot(ap.baseAddress!, $0.baseAddress!, 100, level: .preferred) } }
    #expect(d1 == d2)
  }
}

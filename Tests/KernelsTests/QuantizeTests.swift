import GGUF
import Kernels
import Testing

/// Round trips through every storage type stay within the error the format allows, and the
/// K-quant reference quantizers behave like ggml's.
@Suite struct QuantizeTests {
  /// Largest allowed RMS error relative to the data's RMS, for Gaussian rows.
  static let bounds: [(GGMLType, Double)] = [
    (.f32, 0), (.f16, 4e-4), (.bf16, 3e-3), (.q8_0, 6e-3), (.q5_1, 0.045), (.q5_0, 0.05), (.q4_1, 0.09),
    (.q4_0, 0.1), (.q6_K, 0.02), (.q5_K, 0.04), (.q4_K, 0.075),
  ]

  @Test(arguments: bounds.map(\.0))
  func roundTripError(_ type: GGMLType) {
    let bound = Self.bounds.first { $0.0 == type }!.1
    var rng = Rng(UInt64(type.rawValue) + 11)
    let n = 4096
    let x = rng.normals(n)
    let q = x.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: n) }
    #expect(q.count == TypeTraits.of(type)!.rowBytes(n))
    let y = dequantized(type, q, n)
    var err = 0.0, ref = 0.0
    for i in 0..<n {
      err += Double(x[i] - y[i]) * Double(x[i] - y[i])
      ref += Double(x[i]) * Double(x[i])
    }
    let rel = (err / ref).squareRoot()
    #expect(rel <= bound, "\(type.name): relative RMS error \(rel) > \(bound)")
    // Quantizing the dequantized values again loses (almost) nothing more.
    let q2 = y.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: n) }
    let y2 = dequantized(type, q2, n)
    var drift = 0.0
    for i in 0..<n { drift += Double(y[i] - y2[i]) * Double(y[i] - y2[i]) }
    #expect((drift / ref).squareRoot() <= bound / 2, "\(type.name): requantization drifts")
  }

  @Test(arguments: [GGMLType.q4_0, .q4_1, .q5_0, .q5_1, .q8_0, .q4_K, .q5_K, .q6_K, .q8_K, .q8_1])
  func zerosAndConstants(_ type: GGMLType) {
    let n = 512
    for value: Float in [0, 1, -2.5] {
      let x = [Float](repeating: value, count: n)
      let q = x.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: n) }
      let y = dequantized(type, q, n)
      for i in 0..<n { #expect(abs(y[i] - value) <= abs(value) * 0.01, "\(type.name) \(value) at \(i): \(y[i])") }
    }
  }

  @Test func activationFormatsRoundTrip() {
    var rng = Rng(3)
    let n = 1024
    let x = rng.normals(n)
    for type: GGMLType in [.q8_0, .q8_1, .q8_K] {
      let q = x.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: n) }
      let y = dequantized(type, q, n)
      // Each value within half a step (plus fp16 rounding of the scale) of the input.
      for b in 0..<(n / type.blockSize) {
        let block = x[(b * type.blockSize)..<((b + 1) * type.blockSize)]
        let step = Double(block.map { abs($0) }.max()!) / 127
        for i in block.indices { #expect(abs(Double(x[i] - y[i])) <= step * 0.56, "\(type.name) at \(i)") }
      }
    }
    // Q8_K's block sums are sums of its quants.
    let q = x.withUnsafeBufferPointer { Quantize.row(.q8_K, $0.baseAddress!, count: n) }
    q.withUnsafeBytes { p in
      for b in 0..<(n / 256) {
        for g in 0..<16 {
          var s = 0
          for l in 0..<16 { s += Int(p.load(fromByteOffset: b * 292 + 4 + 16 * g + l, as: Int8.self)) }
          #expect(Int(p.loadUnaligned(fromByteOffset: b * 292 + 260 + 2 * g, as: Int16.self)) == s)
        }
      }
    }
  }

  /// Requantizing real K-quant blocks (already on the quantization grid) with the reference
  /// quantizer mostly reproduces them: the scale search is ggml's.
  @Test func kQuantsReproduceRealBlocks() throws {
    guard let file = openModel(gemma) else { return }
    for type: GGMLType in [.q4_K, .q6_K] {
      guard let t = file.tensors.first(where: { $0.type == type }) else { Issue.record("no \(type.name) tensor"); continue }
      let data = file.data(for: t)
      let blocks = min(512, t.byteCount / type.typeSize)
      var same = 0
      var worst = 0.0
      for b in 0..<blocks {
        let raw = Array(UnsafeRawBufferPointer(rebasing: data[(b * type.typeSize)..<((b + 1) * type.typeSize)]))
        let x = dequantized(type, raw, 256)
        let q = x.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: 256) }
        if q == raw { same += 1 }
        let y = dequantized(type, q, 256)
        var err = 0.0, ref = 0.0
        for i in 0..<256 { err += Double(x[i] - y[i]) * Double(x[i] - y[i]); ref += Double(x[i]) * Double(x[i]) }
        if ref > 0 { worst = max(worst, (err / ref).squareRoot()) }
      }
      #expect(worst < (type == .q4_K ? 0.08 : 0.03), "\(type.name): worst block error \(worst)")
      print("\(type.name): \(same) of \(blocks) real blocks requantize to identical bytes; worst relative RMS \(worst)")
    }
  }
}

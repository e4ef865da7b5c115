import GGUF
import Kernels
import Testing

@Suite struct LinearTests {
  struct Matrix {
    let type: GGMLType, rows: Int, cols: Int
    let bytes: [UInt8]
    var rowBytes: Int { TypeTraits.of(type)!.rowBytes(cols) }
    init(_ type: GGMLType, rows: Int, cols: Int, rng: inout Rng) {
      self.type = type; self.rows = rows; self.cols = cols
      var b: [UInt8] = []
      for r in 0..<rows { b += weightRow(type, cols, random: r % 3 == 2, rng: &rng) }
      bytes = b
    }
    func with<R>(_ body: (WeightMatrix) -> R) -> R {
      bytes.withUnsafeBytes { body(WeightMatrix(type: type, data: $0.baseAddress!, rows: rows, cols: cols)) }
    }
    func row(_ r: Int) -> [UInt8] { Array(bytes[(r * rowBytes)..<((r + 1) * rowBytes)]) }
  }

  static func cols(_ type: GGMLType) -> Int { type.blockSize == 256 ? 768 : 352 }

  /// Runs matmul over `tokens` rows of x (stride cols + 5) into y (stride rows + 2).
  static func run(_ m: Matrix, _ x: [Float], tokens: Int, mode: KernelMode, ws: KernelWorkspace) -> [Float] {
    let xStride = m.cols + 5, yStride = m.rows + 2
    var y = [Float](repeating: .nan, count: tokens * yStride)
    m.with { w in
      x.withUnsafeBufferPointer { xp in
        y.withUnsafeMutableBufferPointer { yp in
          Linear.matmul(w, x: xp.baseAddress!, xStride: xStride, tokens: tokens, y: yp.baseAddress!, yStride: yStride, mode: mode, workspace: ws)
        }
      }
    }
    for t in 0..<tokens { for r in m.rows..<yStride { #expect(y[t * yStride + r].isNaN, "wrote outside the rows") } }
    return y
  }

  static func input(_ cols: Int, tokens: Int, rng: inout Rng) -> [Float] { rng.normals((cols + 5) * tokens) }

  @Test(arguments: FastKernelTests.weightTypes)
  func exactModeIsTheDoubleDot(_ type: GGMLType) {
    var rng = Rng(UInt64(type.rawValue) + 1)
    let m = Matrix(type, rows: 37, cols: Self.cols(type), rng: &rng)
    let pool = ThreadPool(threads: 2)
    let ws = KernelWorkspace(maxTokens: 4, maxCols: 1024, threads: pool)
    let tokens = 9  // more than maxTokens: the call works in chunks
    let x = Self.input(m.cols, tokens: tokens, rng: &rng)
    let y = Self.run(m, x, tokens: tokens, mode: .exact, ws: ws)
    for r in 0..<m.rows {
      let w = dequantized(type, m.row(r), m.cols)
      for t in 0..<tokens {
        var s = 0.0
        for i in 0..<m.cols { s += Double(w[i]) * Double(x[t * (m.cols + 5) + i]) }
        #expect(y[t * (m.rows + 2) + r] == Float(s), "row \(r) token \(t)")
      }
    }
  }

  struct Case: CustomStringConvertible, Sendable {
    let level: KernelLevel, type: GGMLType, threads: Int
    var description: String { "\(level) \(type.name) \(threads)t" }
  }
  static let cases = KernelLevel.available.flatMap { l in
    FastKernelTests.weightTypes.flatMap { t in [1, 2].map { Case(level: l, type: t, threads: $0) } }
  }

  /// Fast mode, decode and gemm paths, against the reference dot on the same quantized activations.
  @Test(arguments: cases)
  func fastModeMatchesReference(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 13 + UInt64(c.threads))
    let m = Matrix(c.type, rows: 21, cols: Self.cols(c.type), rng: &rng)
    let pool = ThreadPool(threads: c.threads)
    let ws = KernelWorkspace(maxTokens: 80, maxCols: m.cols, threads: pool, level: c.level)
    // Decode (1..3), the gemm path (4+), and more tokens than one gemm chunk (64).
    for tokens in [1, 3, 4, 7, 67] {
      let x = Self.input(m.cols, tokens: tokens, rng: &rng)
      let y = Self.run(m, x, tokens: tokens, mode: .fast, ws: ws)
      for t in 0..<tokens {
        let act = activationRow(for: c.type, Array(x[(t * (m.cols + 5))..<(t * (m.cols + 5) + m.cols)]))
        for r in 0..<m.rows {
          let wr = m.row(r)
          let want = wr.withUnsafeBytes { wp in act.withUnsafeBytes { Reference.dot(c.type, wp.baseAddress!, $0.baseAddress!, count: m.cols) } }
          let got = y[t * (m.rows + 2) + r]
          let ok = FastKernelTests.close(got, want, magnitude: dotMagnitude(c.type, wr, act, m.cols))
          #expect(ok, "tokens=\(tokens) t=\(t) r=\(r): got \(got) want \(want)")
          if !ok { return }
        }
      }
    }
  }

  /// On real tensors, fast (8-bit activations) stays within ~1-2% of exact.
  @Test func fastIsCloseToExactOnRealModels() {
    let pool = ThreadPool(threads: 2)
    for name in [smolLM, gemma, qwen] {
      guard let file = openModel(name) else { continue }
      var types = Set<GGMLType>()
      for t in file.tensors where t.dims.count == 2 && !types.contains(t.type) && t.type != .f32 && t.rowCount <= 8192 {
        types.insert(t.type)
        let w = WeightMatrix(file: file, tensor: t)
        let ws = KernelWorkspace(maxTokens: 8, maxCols: w.cols, threads: pool)
        var rng = Rng(1)
        let tokens = 5
        let x = rng.normals(w.cols * tokens)
        var fast = [Float](repeating: 0, count: w.rows * tokens), exact = fast
        x.withUnsafeBufferPointer { xp in
          fast.withUnsafeMutableBufferPointer {
            Linear.matmul(w, x: xp.baseAddress!, xStride: w.cols, tokens: tokens, y: $0.baseAddress!, yStride: w.rows, mode: .fast, workspace: ws)
          }
          exact.withUnsafeMutableBufferPointer {
            Linear.matmul(w, x: xp.baseAddress!, xStride: w.cols, tokens: tokens, y: $0.baseAddress!, yStride: w.rows, mode: .exact, workspace: ws)
          }
        }
        var err = 0.0, ref = 0.0
        for i in 0..<fast.count {
          err += Double(fast[i] - exact[i]) * Double(fast[i] - exact[i])
          ref += Double(exact[i]) * Double(exact[i])
        }
        let rel = (err / ref).squareRoot()
        #expect(rel < 0.03, "\(name) \(t.name) (\(t.type.name)): relative error \(rel)")
      }
    }
  }

  @Test func embeddingRowsAreTheReference() throws {
    guard let file = openModel(smolLM) else { return }
    let t = try #require(file.tensor(named: "token_embd.weight"))
    let w = WeightMatrix(file: file, tensor: t)
    var row = [Float](repeating: 0, count: w.cols)
    for index in [0, 1, 17, w.rows - 1] {
      row.withUnsafeMutableBufferPointer { Dequant.row(w, index: index, into: $0.baseAddress!) }
      let bytes = Array(UnsafeRawBufferPointer(start: w.row(index), count: w.rowBytes))
      #expect(row == dequantized(w.type, bytes, w.cols))
    }
  }
}

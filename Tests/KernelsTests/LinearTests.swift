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

  /// Exact mode: f32 SIMD dots of reference-dequantized rows, within float rounding of the
  /// Double dot (32 partial sums: far below 1e-6 of Σ|w·x|).
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
        var s = 0.0, mag = 0.0
        for i in 0..<m.cols {
          let p = Double(w[i]) * Double(x[t * (m.cols + 5) + i])
          s += p
          mag += abs(p)
        }
        let got = Double(y[t * (m.rows + 2) + r])
        #expect(abs(got - s) <= 1e-6 * mag + 1e-6 * abs(s), "row \(r) token \(t): \(got) vs \(s)")
      }
    }
  }

  struct Case: CustomStringConvertible, Sendable {
    let level: KernelLevel, type: GGMLType, threads: Int, mode: KernelMode
    var description: String { "\(level) \(type.name) \(threads)t \(mode)" }
  }
  static let cases = KernelLevel.available.flatMap { l in
    FastKernelTests.weightTypes.flatMap { t in
      [1, 2].flatMap { n in [KernelMode.fast, .fastInt8].map { Case(level: l, type: t, threads: n, mode: $0) } }
    }
  }

  /// What the fast kernels are defined to compute for one (row, token): the reference dot on the
  /// activations quantized as `mode` does (Q16 or Q8; f32 for float weights).
  static func want(_ type: GGMLType, _ w: [UInt8], _ x: [Float], mode: KernelMode) -> (Double, Double) {
    let n = x.count
    if mode == .fast && TypeTraits.of(type)!.activation != .f32 {
      let act = Q16KernelTests.q16(x)
      let d = w.withUnsafeBytes { wp in act.withUnsafeBytes { Reference.dotQ16(type, wp.baseAddress!, $0.baseAddress!, count: n) } }
      return (d, Q16KernelTests.magnitude(type, w, act, n))
    }
    let act = activationRow(for: type, x)
    let d = w.withUnsafeBytes { wp in act.withUnsafeBytes { Reference.dot(type, wp.baseAddress!, $0.baseAddress!, count: n) } }
    return (d, dotMagnitude(type, w, act, n))
  }

  /// Fast modes, decode and gemm paths, against the reference dot on the same quantized activations.
  @Test(arguments: cases)
  func fastModeMatchesReference(_ c: Case) {
    var rng = Rng(UInt64(c.type.rawValue) * 13 + UInt64(c.threads))
    let m = Matrix(c.type, rows: 21, cols: Self.cols(c.type), rng: &rng)
    let pool = ThreadPool(threads: c.threads)
    let ws = KernelWorkspace(maxTokens: 80, maxCols: m.cols, threads: pool, level: c.level)
    // Decode (1..3), the gemm path (4+), and more tokens than one gemm chunk (64).
    for tokens in [1, 3, 4, 7, 67] {
      let x = Self.input(m.cols, tokens: tokens, rng: &rng)
      let y = Self.run(m, x, tokens: tokens, mode: c.mode, ws: ws)
      for t in 0..<tokens {
        let xt = Array(x[(t * (m.cols + 5))..<(t * (m.cols + 5) + m.cols)])
        for r in 0..<m.rows {
          let (want, mag) = Self.want(c.type, m.row(r), xt, mode: c.mode)
          let got = y[t * (m.rows + 2) + r]
          let ok = FastKernelTests.close(got, want, magnitude: mag)
          #expect(ok, "tokens=\(tokens) t=\(t) r=\(r): got \(got) want \(want)")
          if !ok { return }
        }
      }
    }
  }

  /// One grouped matmul of the first `count` of three matrices over x; the outputs, NaN where
  /// nothing was written.
  static func grouped(_ mats: [Matrix], count: Int, x: [Float], tokens: Int, mode: KernelMode, ws: KernelWorkspace) -> [[Float]] {
    let cols = mats[0].cols
    var y0 = [Float](repeating: .nan, count: mats[0].rows * tokens), y1 = [Float](repeating: .nan, count: mats[1].rows * tokens)
    var y2 = [Float](repeating: .nan, count: mats[2].rows * tokens)
    mats[0].with { w0 in
      mats[1].with { w1 in
        mats[2].with { w2 in
          y0.withUnsafeMutableBufferPointer { p0 in
            y1.withUnsafeMutableBufferPointer { p1 in
              y2.withUnsafeMutableBufferPointer { p2 in
                x.withUnsafeBufferPointer { xp in
                  Linear.matmul(.init(w0, y: p0.baseAddress!), .init(w1, y: p1.baseAddress!), count == 3 ? .init(w2, y: p2.baseAddress!) : nil,
                                x: xp.baseAddress!, xStride: cols, tokens: tokens, mode: mode, workspace: ws)
                }
              }
            }
          }
        }
      }
    }
    return [y0, y1, y2]
  }

  /// Two or three matrices of mixed types over one input (Q/K/V, gate/up) give what separate
  /// calls give, in every mode, for decode and gemm token counts.
  @Test(arguments: KernelMode.allCases)
  func groupedOutputsEqualSeparateCalls(_ mode: KernelMode) {
    var rng = Rng(41)
    let mats = [Matrix(.q4_K, rows: 19, cols: 512, rng: &rng), Matrix(.q6_K, rows: 8, cols: 512, rng: &rng),
                Matrix(.f16, rows: 5, cols: 512, rng: &rng)]
    let pool = ThreadPool(threads: 2)
    let ws = KernelWorkspace(maxTokens: 70, maxCols: 512, threads: pool)
    for tokens in [1, 5, 70] {
      let x = rng.normals(512 * tokens)
      let separate = mats.map { m in
        var y = [Float](repeating: 0, count: m.rows * tokens)
        m.with { w in
          x.withUnsafeBufferPointer { xp in
            y.withUnsafeMutableBufferPointer {
              Linear.matmul(w, x: xp.baseAddress!, xStride: 512, tokens: tokens, y: $0.baseAddress!, yStride: m.rows, mode: mode, workspace: ws)
            }
          }
        }
        return y
      }
      for count in [2, 3] {
        let ys = Self.grouped(mats, count: count, x: x, tokens: tokens, mode: mode, ws: ws)
        for i in 0..<count { #expect(ys[i] == separate[i], "\(mode) tokens=\(tokens) outputs=\(count) matrix \(i)") }
        if count == 2 { let untouched = ys[2].allSatisfy { $0.isNaN }; #expect(untouched, "the third output was written") }
      }
    }
  }

  /// Decode cuts a group's concatenated rows into runs of about equal bytes, which may span
  /// outputs: every row of every output is written once and equals the one-thread result, for
  /// any thread count.
  @Test func decodeRunsCoverEveryRowOnce() {
    var rng = Rng(7)
    let mats = [Matrix(.q4_1, rows: 37, cols: 256, rng: &rng), Matrix(.q6_K, rows: 9, cols: 256, rng: &rng),
                Matrix(.q8_0, rows: 130, cols: 256, rng: &rng)]
    let x = rng.normals(256 * 2)
    func run(threads: Int, tokens: Int) -> [[Float]] {
      let ws = KernelWorkspace(maxTokens: 2, maxCols: 256, threads: ThreadPool(threads: threads))
      return Self.grouped(mats, count: 3, x: x, tokens: tokens, mode: .fast, ws: ws)
    }
    for tokens in [1, 2] {
      let one = run(threads: 1, tokens: tokens)
      #expect(one.allSatisfy { $0.allSatisfy { !$0.isNaN } }, "one thread left rows unwritten")
      for threads in [2, 3, 5] {
        #expect(run(threads: threads, tokens: tokens) == one, "threads=\(threads) tokens=\(tokens)")
      }
    }
  }

  /// On real tensors: Q16 stays within ~1e-4 of exact, 8-bit activations within ~1-2 %.
  @Test(arguments: [KernelMode.fast, .fastInt8])
  func fastIsCloseToExactOnRealModels(_ mode: KernelMode) {
    let pool = ThreadPool(threads: 2)
    var worst = 0.0
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
            Linear.matmul(w, x: xp.baseAddress!, xStride: w.cols, tokens: tokens, y: $0.baseAddress!, yStride: w.rows, mode: mode, workspace: ws)
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
        worst = max(worst, rel)
        #expect(rel < (mode == .fast ? 3e-4 : 0.03), "\(name) \(t.name) (\(t.type.name)): relative error \(rel)")
      }
    }
    print("[linear] \(mode) vs exact on real tensors: worst relative RMS error \(worst)")
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

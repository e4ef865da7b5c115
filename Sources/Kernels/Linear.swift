import CKernels
import GGUF

/// How `Linear.matmul` computes.
public enum KernelMode: Sendable {
  /// Quantized activations (Q8_0 / Q8_1 / Q8_K as the weight type asks) and SIMD integer dot
  /// products: llama.cpp's arithmetic.
  case fast
  /// f32 activations against weights dequantized by the scalar reference, summed in Double: the
  /// yardstick for correctness tests.
  case exact
}

public enum Linear {
  /// Below this many tokens each (row, token) pair gets its own vec_dot (decode); from it on,
  /// the multi-row gemm kernels unpack each weight tile once and reuse it across tokens.
  static let gemmMinTokens = 4
  /// Tokens per gemm task: their quantized activations (~150 KB for 2048 columns) stay in L2
  /// while every row tile streams past them.
  static let gemmTokenChunk = 64

  /// y[t*yStride + r] = dot(W row r, x[t*xStride ..< +cols]) for t in 0..<tokens, r in 0..<W.rows.
  /// Multi-threaded over rows (and over token chunks for big batches).
  public static func matmul(
    _ w: WeightMatrix, x: UnsafePointer<Float>, xStride: Int, tokens: Int, y: UnsafeMutablePointer<Float>, yStride: Int,
    mode: KernelMode, workspace ws: KernelWorkspace
  ) {
    precondition(w.cols <= ws.maxCols, "Linear.matmul: \(w.cols) columns exceed the workspace's \(ws.maxCols)")
    precondition(xStride >= w.cols && (tokens <= 1 || yStride >= w.rows), "Linear.matmul: strides too small")
    var t0 = 0
    while t0 < tokens {
      let n = min(ws.maxTokens, tokens - t0)
      let xs = x + t0 * xStride, ys = y + t0 * yStride
      switch mode {
      case .exact: exact(w, xs, xStride, n, ys, yStride, ws)
      case .fast: fast(w, xs, xStride, n, ys, yStride, ws)
      }
      t0 += n
    }
  }

  // MARK: - exact

  private static func exact(
    _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ xStride: Int, _ tokens: Int, _ y: UnsafeMutablePointer<Float>,
    _ yStride: Int, _ ws: KernelWorkspace
  ) {
    let chunks = taskCount(rows: w.rows, threads: ws.threads.threads, align: 1)
    ws.threads.run(tasks: chunks) { task, thread in
      let rowBuf = ws.scratch(thread: thread).assumingMemoryBound(to: Float.self)
      for r in rowRange(task, chunks, w.rows, align: 1) {
        Reference.dequantize(w.type, w.row(r), rowBuf, count: w.cols)
        for t in 0..<tokens {
          let xt = x + t * xStride
          var s = 0.0
          for i in 0..<w.cols { s += Double(rowBuf[i]) * Double(xt[i]) }
          y[t * yStride + r] = Float(s)
        }
      }
    }
  }

  // MARK: - fast

  private static func fast(
    _ w: WeightMatrix, _ x: UnsafePointer<Float>, _ xStride: Int, _ tokens: Int, _ y: UnsafeMutablePointer<Float>,
    _ yStride: Int, _ ws: KernelWorkspace
  ) {
    let k = ws.level.table
    let type = Int32(w.type.rawValue)
    precondition(hk_supports(k, type) != 0, "Linear.matmul: no kernel for \(w.type.name)")
    let act = TypeTraits.of(w.type)!.activation
    let pool = ws.threads
    let n = Int32(w.cols), wStride = w.rowBytes, outStride = yStride

    // Activations: f32 as given for float weights, otherwise quantized once into the workspace.
    let a: UnsafeRawPointer, aStride: Int
    if act == .f32 {
      a = UnsafeRawPointer(x)
      aStride = 4 * xStride
    } else {
      let dst = ws.activations, rb = ws.activationRowBytes, actType = Int32(act.rawValue)
      if tokens >= 8 && pool.threads > 1 {
        let parts = min(tokens, pool.threads * 2)
        pool.run(tasks: parts) { p in
          let r = rowRange(p, parts, tokens, align: 1)
          hk_quantize_rows(k, actType, x + r.lowerBound * xStride, xStride, Int32(r.count), n, dst + r.lowerBound * rb, rb)
        }
      } else {
        hk_quantize_rows(k, actType, x, xStride, Int32(tokens), n, dst, rb)
      }
      a = UnsafeRawPointer(dst)
      aStride = rb
    }

    if tokens < gemmMinTokens {
      let chunks = taskCount(rows: w.rows, threads: pool.threads, align: 4)
      pool.run(tasks: chunks) { task in
        let r = rowRange(task, chunks, w.rows, align: 4)
        if r.isEmpty { return }
        hk_dot_rows(k, type, n, w.row(r.lowerBound), wStride, Int32(r.count), a, aStride, Int32(tokens),
                    y + r.lowerBound, outStride)
      }
      return
    }

    let rowChunks = taskCount(rows: w.rows, threads: pool.threads, align: Int(HK_GEMM_ROWS))
    let tokenChunks = (tokens + gemmTokenChunk - 1) / gemmTokenChunk
    // Task i: token chunk i / rowChunks, row chunk i % rowChunks, so all threads share one token
    // chunk at a time.
    pool.run(tasks: rowChunks * tokenChunks) { task, thread in
      let r = rowRange(task % rowChunks, rowChunks, w.rows, align: Int(HK_GEMM_ROWS))
      if r.isEmpty { return }
      let tc = task / rowChunks
      let t0 = tc * gemmTokenChunk, nt = min(gemmTokenChunk, tokens - t0)
      hk_gemm(k, type, n, w.row(r.lowerBound), wStride, Int32(r.count), a + t0 * aStride, aStride, Int32(nt),
              y + t0 * outStride + r.lowerBound, outStride, ws.scratch(thread: thread))
    }
  }

  // MARK: - work split

  /// How many tasks to cut `rows` into: several per thread so that uneven thread speed (the
  /// machine is shared) evens out, but never tasks smaller than `align` rows.
  static func taskCount(rows: Int, threads: Int, align: Int) -> Int {
    if threads == 1 { return 1 }
    let units = (rows + align - 1) / align
    return max(1, min(units, threads * 4))
  }

  /// Rows of task `i` of `tasks`, boundaries on multiples of `align`.
  @inline(__always)
  static func rowRange(_ i: Int, _ tasks: Int, _ rows: Int, align: Int) -> Range<Int> {
    let units = (rows + align - 1) / align
    let lo = min(rows, (units * i / tasks) * align), hi = min(rows, (units * (i + 1) / tasks) * align)
    return lo..<hi
  }
}

import CKernels
import GGUF

/// How `Linear.matmul` computes.
public enum KernelMode: Sendable, CaseIterable {
  /// The default: activations quantized to Q16 (int16, one f32 scale per 32 values) and SIMD
  /// integer dot products. About as fast as 8 bits on AVX2 and ~250x closer to f32 (docs/kernels.md).
  case fast
  /// llama.cpp's arithmetic: activations quantized to 8 bits (Q8_0 / Q8_1 / Q8_K as the weight
  /// type asks). Kept for comparison and benchmarks; less accurate than llama.cpp's own bar on
  /// the reference tests, so not a default.
  case fastInt8
  /// f32 activations against weights dequantized by the bit-exact reference, SIMD f32 dots with
  /// 32 partial sums: the yardstick for correctness tests (within ~1e-6 of a Double dot).
  case exact
}

public enum Linear {
  /// Below this many tokens each (row, token) pair gets its own vec_dot (decode); from it on,
  /// the multi-row gemm kernels unpack each weight tile once and reuse it across tokens.
  static let gemmMinTokens = 4
  /// Tokens per gemm task: their quantized activations stay in L2 while row tiles stream past.
  static let gemmTokenChunk = 64
  /// Decode tasks per thread. Fewer, longer runs stream better; more even out a thread the
  /// machine slows. In-process A/B, alternating tokens (SmolLM2, 2 threads, Xeon): 2 per thread
  /// ran 3 % faster than 4 and 8 % faster than 8; Qwen2.5 was the same from 1 to 8.
  /// Groups that small are then cut into 3 falling runs per thread instead (`decode`).
  static let decodeTasksPerThread = 2
  /// The longest decode run: a big matrix (an output projection of 30-170 MB) in runs of 8 MB,
  /// so that a thread the machine slows leaves the other at most one run's wait (Gemma 3 +1 %
  /// over four runs of 42 MB; 2 MB runs cost SmolLM2 3 %).
  static let decodeRunBytes = 8 << 20

  /// One product of a group that shares its input: y[t*yStride + r] = dot(w row r, x row t).
  public struct Output: @unchecked Sendable {
    public let w: WeightMatrix
    public let y: UnsafeMutablePointer<Float>
    public let yStride: Int
    public init(_ w: WeightMatrix, y: UnsafeMutablePointer<Float>, yStride: Int? = nil) {
      self.w = w
      self.y = y
      self.yStride = yStride ?? w.rows
    }
  }

  /// y[t*yStride + r] = dot(W row r, x[t*xStride ..< +cols]) for t in 0..<tokens, r in 0..<W.rows.
  /// Multi-threaded over rows (and over token chunks for big batches).
  public static func matmul(
    _ w: WeightMatrix, x: UnsafePointer<Float>, xStride: Int, tokens: Int, y: UnsafeMutablePointer<Float>, yStride: Int,
    mode: KernelMode, workspace ws: KernelWorkspace
  ) {
    matmul(Output(w, y: y, yStride: yStride), nil, nil, x: x, xStride: xStride, tokens: tokens, mode: mode, workspace: ws)
  }

  /// Two or three products of the same input (Q/K/V, gate/up) in one call: in fast mode the
  /// input is quantized once and all rows share one dispatch to the thread pool.
  public static func matmul(
    _ a: Output, _ b: Output?, _ c: Output? = nil, x: UnsafePointer<Float>, xStride: Int, tokens: Int, mode: KernelMode,
    workspace ws: KernelWorkspace
  ) {
    let group = Group(a, b, c)
    for i in 0..<group.count {
      let o = group[i]
      precondition(o.w.cols == a.w.cols, "Linear.matmul: outputs of one call must share the input width")
      precondition(o.w.cols <= ws.maxCols, "Linear.matmul: \(o.w.cols) columns exceed the workspace's \(ws.maxCols)")
      precondition(xStride >= o.w.cols && (tokens <= 1 || o.yStride >= o.w.rows), "Linear.matmul: strides too small")
    }
    var t0 = 0
    while t0 < tokens {
      let n = min(ws.maxTokens, tokens - t0)
      let chunk = group.advanced(by: t0)
      let xs = x + t0 * xStride
      switch mode {
      case .exact: for i in 0..<chunk.count { exact(chunk[i], xs, xStride, n, ws) }
      case .fastInt8: for i in 0..<chunk.count { int8(chunk[i], xs, xStride, n, ws) }
      case .fast: q16(chunk, xs, xStride, n, ws)
      }
      t0 += n
    }
  }

  /// Up to three outputs, stored inline (no allocation per call).
  struct Group {
    let items: (Output, Output?, Output?)
    let count: Int
    init(_ a: Output, _ b: Output?, _ c: Output?) {
      items = (a, b, c)
      count = 1 + (b == nil ? 0 : 1) + (c == nil ? 0 : 1)
      precondition(b != nil || c == nil, "Linear.matmul: pass the second output before the third")
    }
    subscript(i: Int) -> Output { i == 0 ? items.0 : (i == 1 ? items.1! : items.2!) }
    /// The same outputs with y moved on by `tokens` rows.
    func advanced(by tokens: Int) -> Group {
      func move(_ o: Output?) -> Output? { o.map { Output($0.w, y: $0.y + tokens * $0.yStride, yStride: $0.yStride) } }
      return Group(move(items.0)!, move(items.1), move(items.2))
    }
  }

  // MARK: - exact

  private static func exact(_ o: Output, _ x: UnsafePointer<Float>, _ xStride: Int, _ tokens: Int, _ ws: KernelWorkspace) {
    let w = o.w
    let f32 = KernelLevel.preferred.table
    let chunks = taskCount(rows: w.rows, threads: ws.threads.threads, align: 1)
    ws.threads.run(tasks: chunks) { task, thread in
      let rowBuf = ws.scratch(thread: thread).assumingMemoryBound(to: Float.self)
      for r in rowRange(task, chunks, w.rows, align: 1) {
        let row: UnsafePointer<Float>
        if w.type == .f32 {
          row = w.row(r).assumingMemoryBound(to: Float.self)
        } else {
          Reference.dequantize(w.type, w.row(r), rowBuf, count: w.cols)
          row = UnsafePointer(rowBuf)
        }
        for t in 0..<tokens { o.y[t * o.yStride + r] = f32.pointee.dot_f32(Int32(w.cols), row, x + t * xStride) }
      }
    }
  }

  // MARK: - fast, 8-bit activations (llama.cpp's arithmetic)

  private static func int8(_ o: Output, _ x: UnsafePointer<Float>, _ xStride: Int, _ tokens: Int, _ ws: KernelWorkspace) {
    let w = o.w
    let k = ws.level.table
    let type = Int32(w.type.rawValue)
    precondition(hk_supports(k, type) != 0, "Linear.matmul: no kernel for \(w.type.name)")
    let act = TypeTraits.of(w.type)!.activation
    let pool = ws.threads
    let n = Int32(w.cols), wStride = w.rowBytes
    let (a, aStride) = act == .f32
      ? (UnsafeRawPointer(x), 4 * xStride)
      : quantizeAll(x, xStride, tokens, cols: w.cols, ws) { src, stride, count, dst, rb in
          hk_quantize_rows(k, Int32(act.rawValue), src, stride, Int32(count), n, dst, rb)
        }
    if tokens < gemmMinTokens {
      let chunks = taskCount(rows: w.rows, threads: pool.threads, align: 4)
      pool.run(tasks: chunks) { task in
        let r = rowRange(task, chunks, w.rows, align: 4)
        if r.isEmpty { return }
        hk_dot_rows(k, type, n, w.row(r.lowerBound), wStride, Int32(r.count), a, aStride, Int32(tokens), o.y + r.lowerBound, o.yStride)
      }
      return
    }
    let rowChunks = taskCount(rows: w.rows, threads: pool.threads, align: Int(HK_GEMM_ROWS))
    let tokenChunks = (tokens + gemmTokenChunk - 1) / gemmTokenChunk
    pool.run(tasks: rowChunks * tokenChunks) { task, thread in
      let r = rowRange(task % rowChunks, rowChunks, w.rows, align: Int(HK_GEMM_ROWS))
      if r.isEmpty { return }
      let t0 = (task / rowChunks) * gemmTokenChunk, nt = min(gemmTokenChunk, tokens - t0)
      hk_gemm(k, type, n, w.row(r.lowerBound), wStride, Int32(r.count), a + t0 * aStride, aStride, Int32(nt),
              o.y + t0 * o.yStride + r.lowerBound, o.yStride, ws.scratch(thread: thread))
    }
  }

  // MARK: - fast, Q16 activations (the default)

  private static func q16(_ g: Group, _ x: UnsafePointer<Float>, _ xStride: Int, _ tokens: Int, _ ws: KernelWorkspace) {
    let k = ws.level.table
    let pool = ws.threads
    let cols = g[0].w.cols
    var quantized = false
    for i in 0..<g.count where TypeTraits.of(g[i].w.type)!.activation != .f32 {
      precondition(hk_supports_q16(k, Int32(g[i].w.type.rawValue)) != 0, "Linear.matmul: no kernel for \(g[i].w.type.name)")
      quantized = true
    }
    // One quantization serves every quantized matrix of the group; float matrices read x.
    let (a, aStride) = quantized
      ? quantizeAll(x, xStride, tokens, cols: cols, ws) { src, stride, count, dst, rb in
          hk_quantize_rows_q16(k, src, stride, Int32(count), Int32(cols), dst, rb)
        }
      : (UnsafeRawPointer(x), 4 * xStride)

    // Looked up here, not per task: reading the traits table from the tasks retains and releases
    // its storage, an atomic on one cache line that both threads then fight over (~2 % of decode).
    func float(_ i: Int) -> Bool { i < g.count && TypeTraits.of(g[i].w.type)!.activation == .f32 }
    let floats = (float(0), float(1), float(2))
    if tokens < gemmMinTokens {
      decode(g, floats: floats, x: x, xStride: xStride, a: a, aStride: aStride, tokens: tokens, ws)
      return
    }
    // Tasks: output i owns a contiguous range of task numbers, each a (row chunk, token chunk).
    let align = Int(HK_GEMM_Q16_ROWS)
    let tokenChunks = (tokens + gemmTokenChunk - 1) / gemmTokenChunk
    var rowChunks = (0, 0, 0), total = 0
    for i in 0..<g.count {
      let c = taskCount(rows: g[i].w.rows, threads: pool.threads, align: align)
      if i == 0 { rowChunks.0 = c } else if i == 1 { rowChunks.1 = c } else { rowChunks.2 = c }
      total += c * tokenChunks
    }
    let starts = (0, rowChunks.0 * tokenChunks, (rowChunks.0 + rowChunks.1) * tokenChunks)
    pool.run(tasks: total) { task, thread in
      let i = task >= starts.2 && g.count > 2 ? 2 : (task >= starts.1 && g.count > 1 ? 1 : 0)
      let local = task - (i == 0 ? starts.0 : (i == 1 ? starts.1 : starts.2))
      let chunks = i == 0 ? rowChunks.0 : (i == 1 ? rowChunks.1 : rowChunks.2)
      let o = g[i], w = o.w
      let r = rowRange(local % chunks, chunks, w.rows, align: align)
      if r.isEmpty { return }
      let type = Int32(w.type.rawValue), n = Int32(w.cols)
      let floatWeights = i == 0 ? floats.0 : (i == 1 ? floats.1 : floats.2)
      let (act, stride) = floatWeights ? (UnsafeRawPointer(x), 4 * xStride) : (a, aStride)
      let t0 = (local / chunks) * gemmTokenChunk, nt = min(gemmTokenChunk, tokens - t0)
      let y = o.y + t0 * o.yStride + r.lowerBound
      if floatWeights {
        hk_dot_rows(k, type, n, w.row(r.lowerBound), w.rowBytes, Int32(r.count), act + t0 * stride, stride, Int32(nt), y, o.yStride)
      } else {
        hk_gemm_q16(k, type, n, w.row(r.lowerBound), w.rowBytes, Int32(r.count), act + t0 * stride, stride, Int32(nt), y, o.yStride,
                    ws.scratch(thread: thread))
      }
    }
  }

  /// Decode (a few tokens): every weight byte is read once, so the cost is the stream. The
  /// group's rows, concatenated, are cut into a few contiguous runs (3 of falling size per thread,
  /// or equal runs for groups past `decodeRunBytes`), so that each
  /// thread streams long runs instead of restarting a stream for every small chunk (SmolLM2's
  /// matrices are 0.1-0.7 MB).
  private static func decode(
    _ g: Group, floats: (Bool, Bool, Bool), x: UnsafePointer<Float>, xStride: Int, a: UnsafeRawPointer, aStride: Int,
    tokens: Int, _ ws: KernelWorkspace
  ) {
    let k = ws.level.table, pool = ws.threads
    // Output i's rows in 4-row units of `unitBytes.i` bytes, starting at byte `first.i` of the group.
    func unitBytes(_ i: Int) -> Int { i < g.count ? 4 * g[i].w.rowBytes : 0 }
    func units(_ i: Int) -> Int { i < g.count ? (g[i].w.rows + 3) / 4 : 0 }
    let size = (unitBytes(0), unitBytes(1), unitBytes(2)), count = (units(0), units(1), units(2))
    let first = (0, count.0 * size.0, count.0 * size.0 + count.1 * size.1)
    let total = first.2 + count.2 * size.2
    let runs = max(pool.threads * decodeTasksPerThread, (total + decodeRunBytes - 1) / decodeRunBytes)
    let threads = pool.threads, units = count.0 + count.1 + count.2
    // Small groups: 3 runs per thread of falling size (4:2:1 parts of 7), taken in order, so that
    // the thread that finishes its big run first takes more of the small ones and the two end
    // nearly together at the barrier (SmolLM2 tg128 +2 % against equal runs, the others level).
    let guided = threads > 1 && runs == threads * decodeTasksPerThread && units >= 3 * threads
    let tasks = guided ? 3 * threads : (threads == 1 ? 1 : max(1, min(units, runs)))
    func boundary(_ task: Int) -> Int {
      guard guided else { return total * task / tasks }
      let parts = task <= threads ? 4 * task : (task <= 2 * threads ? 2 * task + 2 * threads : task + 4 * threads)
      return total * parts / (7 * threads)
    }
    if threads > 1 {
      // Thread t most often starts with task t (tasks are claimed in order, the caller at once).
      ws.plans.dispatch(key: g[0].w.data, pool: pool) { t in
        let lo = boundary(t), hi = boundary(t + 1)
        let i = g.count > 2 && lo >= first.2 ? 2 : (g.count > 1 && lo >= first.1 ? 1 : 0)
        let start = i == 0 ? first.0 : (i == 1 ? first.1 : first.2)
        let end = start + (i == 0 ? count.0 * size.0 : (i == 1 ? count.1 * size.1 : count.2 * size.2))
        return (g[i].w.data + (lo - start), min(hi, end) - lo)
      }
    }
    pool.run(tasks: tasks) { task, _ in
      let lo = boundary(task), hi = boundary(task + 1)
      for i in 0..<g.count {
        let start = i == 0 ? first.0 : (i == 1 ? first.1 : first.2)
        let bytes = i == 0 ? size.0 : (i == 1 ? size.1 : size.2), n = i == 0 ? count.0 : (i == 1 ? count.1 : count.2)
        // Unit u belongs to the task whose byte range holds the unit's first byte.
        func unit(_ b: Int) -> Int { min(n, max(0, (b - start + bytes - 1) / bytes)) }
        let u0 = unit(lo), u1 = unit(hi)
        if u0 >= u1 { continue }
        let o = g[i], w = o.w
        let r0 = 4 * u0, rows = min(w.rows, 4 * u1) - r0
        let type = Int32(w.type.rawValue), cols = Int32(w.cols)
        if i == 0 ? floats.0 : (i == 1 ? floats.1 : floats.2) {
          hk_dot_rows(k, type, cols, w.row(r0), w.rowBytes, Int32(rows), x, 4 * xStride, Int32(tokens), o.y + r0, o.yStride)
        } else {
          hk_dot_rows_q16(k, type, cols, w.row(r0), w.rowBytes, Int32(rows), a, aStride, Int32(tokens), o.y + r0, o.yStride)
        }
      }
    }
  }

  /// Quantizes `tokens` rows of x into the workspace (in parallel for big batches) and returns
  /// where they are and their stride.
  private static func quantizeAll(
    _ x: UnsafePointer<Float>, _ xStride: Int, _ tokens: Int, cols: Int, _ ws: KernelWorkspace,
    _ quantize: (UnsafePointer<Float>, Int, Int, UnsafeMutableRawPointer, Int) -> Void
  ) -> (UnsafeRawPointer, Int) {
    let dst = ws.activations, rb = ws.activationRowBytes, pool = ws.threads
    if tokens >= 8 && pool.threads > 1 {
      let parts = min(tokens, pool.threads * 2)
      pool.run(tasks: parts) { p in
        let r = rowRange(p, parts, tokens, align: 1)
        quantize(x + r.lowerBound * xStride, xStride, r.count, dst + r.lowerBound * rb, rb)
      }
    } else {
      quantize(x, xStride, tokens, dst, rb)
    }
    return (UnsafeRawPointer(dst), rb)
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

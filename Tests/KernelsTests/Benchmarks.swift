import Foundation
import GGUF
import Kernels
import Testing

/// Throughput figures on real tensors. Prints, never asserts; runs only with HEARTH_BENCH=1
/// (build with -c release for meaningful numbers):
///   HEARTH_BENCH=1 swift test -c release --scratch-path .build-perf --filter Benchmarks
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_BENCH"] == "1"), .serialized)
struct Benchmarks {
  static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  /// CPU time of the whole process (all threads), seconds.
  static func cpu() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  /// Best-of-`repeats` wall seconds for `body`, and the process CPU seconds of that best run.
  /// The machine is shared: on a busy one, 1-thread CPU time shows what a core does undisturbed.
  static func time(repeats: Int, _ body: () -> Void) -> (wall: Double, cpu: Double) {
    body()
    var best = (wall: Double.infinity, cpu: 0.0)
    for _ in 0..<repeats {
      let t0 = now(), c0 = cpu()
      body()
      let w = now() - t0
      if w < best.wall { best = (w, cpu() - c0) }
    }
    return best
  }

  /// Several tensors of one kind laid end to end, bigger than the caches, so matvec streams them
  /// from RAM as decoding does.
  static func matvec(_ file: GGUFFile, _ label: String, _ tensors: [GGUFTensorInfo], level: KernelLevel, mode: KernelMode = .fast) {
    let ws1 = KernelWorkspace(maxTokens: 1, maxCols: 16384, threads: ThreadPool(threads: 1), level: level)
    let ws2 = KernelWorkspace(maxTokens: 1, maxCols: 16384, threads: ThreadPool(threads: 2), level: level)
    let mats = tensors.map { WeightMatrix(file: file, tensor: $0) }
    let bytes = mats.reduce(0) { $0 + $1.rowBytes * $1.rows }
    var rng = Rng(1)
    let x = rng.normals(mats.map(\.cols).max()!)
    var y = [Float](repeating: 0, count: mats.map(\.rows).max()!)
    for (threads, ws) in [(1, ws1), (2, ws2)] {
      let (s, c) = time(repeats: 7) {
        x.withUnsafeBufferPointer { xp in
          y.withUnsafeMutableBufferPointer { yp in
            for w in mats {
              Linear.matmul(w, x: xp.baseAddress!, xStride: w.cols, tokens: 1, y: yp.baseAddress!, yStride: w.rows, mode: mode, workspace: ws)
            }
          }
        }
      }
      // Process CPU time lags for threads still running on other cores (it is updated at
      // scheduler ticks), so it only means something for one thread or long runs.
      let cpuNote = threads == 1 ? String(format: " (cpu %6.2f ms)", c * 1e3) : ""
      print(String(format: "matvec  %-46@ %@ %@ %dt: %6.1f MB in %6.2f ms = %5.1f GB/s%@", label as NSString,
                   level.description as NSString, "\(mode)" as NSString, threads, Double(bytes) / 1e6, s * 1e3, Double(bytes) / s / 1e9, cpuNote as NSString))
    }
  }

  /// Prompt processing: `tokens` tokens through every matrix of every block (attention + FFN
  /// projections, not the output layer), reported as tokens/s and integer GOP/s.
  static func prefill(_ file: GGUFFile, _ label: String, tokens: Int, level: KernelLevel, mode: KernelMode = .fast) {
    let mats = file.tensors.filter { $0.name.hasPrefix("blk.") && $0.dims.count == 2 }.map { WeightMatrix(file: file, tensor: $0) }
    let maxCols = mats.map(\.cols).max()!, maxRows = mats.map(\.rows).max()!
    var rng = Rng(2)
    let x = rng.normals(maxCols * tokens, scale: 0.5)
    var y = [Float](repeating: 0, count: maxRows * tokens)
    let macs = mats.reduce(0.0) { $0 + Double($1.rows * $1.cols) } * Double(tokens)
    for threads in [1, 2] {
      let ws = KernelWorkspace(maxTokens: tokens, maxCols: maxCols, threads: ThreadPool(threads: threads), level: level)
      let (s, c) = time(repeats: 3) {
        x.withUnsafeBufferPointer { xp in
          y.withUnsafeMutableBufferPointer { yp in
            for w in mats {
              Linear.matmul(w, x: xp.baseAddress!, xStride: maxCols, tokens: tokens, y: yp.baseAddress!, yStride: maxRows, mode: mode, workspace: ws)
            }
          }
        }
      }
      print(String(format: "prefill %-40@ %@ %@ %dt: %d tokens in %7.1f ms = %6.1f tok/s, %6.1f GOP/s (cpu %7.1f ms: %6.1f GOP/s per cpu-second)",
                   label as NSString, level.description as NSString, "\(mode)" as NSString, threads, tokens, s * 1e3, Double(tokens) / s, 2 * macs / s / 1e9,
                   c * 1e3, 2 * macs / c / 1e9))
    }
  }

  @Test(arguments: [KernelMode.fast, .fastInt8])
  func decodeBandwidth(_ mode: KernelMode) {
    for level in KernelLevel.available.reversed() {
      if let f = openModel(gemma) {
        let ffn = f.tensors.filter { $0.name.contains("ffn_") && $0.dims.count == 2 }
        for type in Set(ffn.map(\.type)).sorted(by: { $0.rawValue < $1.rawValue }) {
          Self.matvec(f, "gemma-3-270m ffn \(type.name) (\(ffn.filter { $0.type == type }.count) tensors)", ffn.filter { $0.type == type }, level: level, mode: mode)
        }
        if let e = f.tensor(named: "token_embd.weight") { Self.matvec(f, "gemma-3-270m token_embd Q8_0 (output)", [e], level: level, mode: mode) }
      }
      if let f = openModel(smolLM) {
        let ffn = f.tensors.filter { $0.name.contains("ffn_") && $0.dims.count == 2 && $0.type == .q4_1 }
        Self.matvec(f, "smollm2-135m ffn Q4_1 (\(ffn.count) tensors)", ffn, level: level, mode: mode)
      }
      if let f = openModel(qwen) {
        let ffn = f.tensors.filter { $0.name.contains("ffn_") && $0.dims.count == 2 }
        for type in Set(ffn.map(\.type)).sorted(by: { $0.rawValue < $1.rawValue }) {
          Self.matvec(f, "qwen2.5-0.5b ffn \(type.name) (\(ffn.filter { $0.type == type }.count) tensors)", ffn.filter { $0.type == type }, level: level, mode: mode)
        }
      }
    }
  }

  /// What one dispatch to the pool costs (decode makes ~150 per token): tasks that do nothing,
  /// so the figure is wake-up, claiming and the wait for the last task.
  @Test func poolDispatch() {
    for threads in [1, 2] {
      let pool = ThreadPool(threads: threads)
      for tasks in [2, 8] {
        let n = 20000
        let (s, _) = Self.time(repeats: 3) { for _ in 0..<n { pool.run(tasks: tasks) { _ in } } }
        print(String(format: "pool    %dt, %d tasks: %.2f µs per dispatch", threads, tasks, s / Double(n) * 1e6))
      }
    }
  }

  /// The preferred level only: the scalar fallback takes ~20x longer.
  @Test(arguments: [KernelMode.fast, .fastInt8])
  func promptProcessing(_ mode: KernelMode) {
    let level = KernelLevel.preferred
    if let f = openModel(gemma) { Self.prefill(f, "gemma-3-270m all block matrices", tokens: 512, level: level, mode: mode) }
    if let f = openModel(smolLM) { Self.prefill(f, "smollm2-135m all block matrices", tokens: 512, level: level, mode: mode) }
    if let f = openModel(qwen) { Self.prefill(f, "qwen2.5-0.5b all block matrices", tokens: 512, level: level, mode: mode) }
  }
}

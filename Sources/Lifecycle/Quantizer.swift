import Foundation
import GGUF
import Kernels

/// Reports long work: a phase name, units done and the total (bytes for quantize).
public typealias ProgressHandler = (_ phase: String, _ done: Int, _ total: Int) -> Void

/// What a quantization wrote.
public struct QuantizeSummary: Sendable {
  public let plan: [TensorPlan]
  public let inputBytes: Int
  public let outputBytes: Int
  public let seconds: Double
  /// Tensors whose type differs from the requested one (output rule, Q4_K_M/Q5_K_M mix, fallbacks).
  public var exceptions: [TensorPlan] { plan.filter { $0.note != nil } }
}

/// Re-quantizes a GGUF tensor by tensor. Each tensor is dequantized from the mapped input and
/// quantized with ggml's reference quantizers row by row, spread over a thread pool, while the
/// writer streams the output; only one tensor's output is in memory at a time.
public enum Quantizer {
  public static func quantize(
    input: String, output: String, target: GGMLType, keepOutputF16: Bool = false, threads: Int = 2, progress: ProgressHandler? = nil
  ) throws(LifecycleError) -> QuantizeSummary {
    let start = Date()
    let file = try openInput(input)
    try checkDistinct(input, output)
    let plan = try QuantizationPlan.plan(file, target: target, keepOutputF16: keepOutputF16)

    var w = GGUFWriter()
    w.copyMetadata(from: file)
    w.set("general.file_type", .uint32(QuantizationPlan.fileType(target)))
    // ggml's quantization format version: what llama-quantize writes.
    w.set("general.quantization_version", .uint32(2))
    let pool = ThreadPool(threads: max(1, threads))
    let total = plan.reduce(0) { $0 + $1.outputBytes }
    var done = 0
    progress?("quantizing", 0, total)
    for p in plan {
      let info = file.tensor(named: p.name)!
      do {
        try w.addTensor(name: p.name, dims: p.dims, type: p.to) {
          let bytes = convert(file.data(for: info), plan: p, pool: pool)
          done += bytes.count
          progress?("quantizing", done, total)
          return bytes
        }
      } catch { throw .writeFailed(path: output, reason: error.description) }
    }
    try write(w, to: output)
    return QuantizeSummary(
      plan: plan, inputBytes: file.fileSize, outputBytes: FileSize.of(output) ?? 0, seconds: Date().timeIntervalSince(start))
  }

  /// One tensor in its new type. Rows are independent (every row is a whole number of blocks),
  /// so each task takes a contiguous run of rows with its own float scratch row.
  static func convert(_ src: UnsafeRawBufferPointer, plan p: TensorPlan, pool: ThreadPool) -> [UInt8] {
    if p.from == p.to { return Array(src) }
    let cols = p.dims[0]
    let rows = p.dims.reduce(1, *) / cols
    let srcRow = p.from.rowBytes(cols)!
    let dstRow = p.to.rowBytes(cols)!
    var out = [UInt8](repeating: 0, count: dstRow * rows)
    let tasks = min(rows, pool.threads * 8)
    out.withUnsafeMutableBytes { dst in
      let base = dst.baseAddress!
      let input = src.baseAddress!
      pool.run(tasks: tasks) { task in
        let lo = rows * task / tasks, hi = rows * (task + 1) / tasks
        let scratch = UnsafeMutablePointer<Float>.allocate(capacity: cols)
        defer { scratch.deallocate() }
        for r in lo..<hi {
          Dequant.row(p.from, input + r * srcRow, scratch, count: cols)
          Quantize.row(p.to, scratch, count: cols, into: base + r * dstRow)
        }
      }
    }
    return out
  }

  static func openInput(_ path: String) throws(LifecycleError) -> GGUFFile {
    do { return try GGUFFile(path: path) } catch { throw .cannotOpen(path: path, reason: error.description) }
  }

  /// Writing over the input would truncate the file the writer is still reading from.
  static func checkDistinct(_ input: String, _ output: String) throws(LifecycleError) {
    let a = URL(fileURLWithPath: input).resolvingSymlinksInPath().path
    let b = URL(fileURLWithPath: output).resolvingSymlinksInPath().path
    if a == b { throw .sameFile(output) }
  }

  static func write(_ w: GGUFWriter, to path: String) throws(LifecycleError) {
    do { try w.write(to: path) } catch {
      throw .writeFailed(path: path, reason: (error as? GGUFError)?.description ?? "\(error)")
    }
  }
}

enum FileSize {
  static func of(_ path: String) -> Int? {
    (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? NSNumber)?.intValue
  }
}

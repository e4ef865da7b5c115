import ArgumentParser
import Foundation
import GGUF
import Lifecycle

/// `hearth quantize IN OUT --type T`: re-quantize a GGUF tensor by tensor.
struct QuantizeCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "quantize",
    abstract: "Re-quantize a GGUF model tensor by tensor (streaming), choosing types as llama-quantize does.",
    discussion: """
      1-D tensors (norms, biases) are stored as F32. The output projection (or the tied token embedding) gets \
      Q6_K unless the type is Q8_0; Q4_K and Q5_K are llama-quantize's Q4_K_M and Q5_K_M mixes. A row length that \
      is not a multiple of the type's block falls back as llama.cpp does (Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to \
      Q8_0, else F16). Every exception is listed. See docs/registry.md.
      """)

  @Argument(help: "The input .gguf file.") var input: String
  @Argument(help: "The .gguf file to write (written to a temp file and renamed when complete).") var output: String
  @Option(help: "Target type: \(QuantizationPlan.targets.map(\.name).joined(separator: ", ")).") var type: String
  @Flag(name: .customLong("keep-output-f16"), help: "Store the output projection and token embedding as F16.") var keepOutputF16 = false
  @Option(help: "Threads (default: all cores).") var threads: Int?

  func run() throws {
    guard let target = GGMLType(name: type), QuantizationPlan.targets.contains(target) else {
      fail("--type must be one of \(QuantizationPlan.targets.map(\.name).joined(separator: ", ")), got '\(type)'", code: 64)
    }
    if let t = threads, !(1...256).contains(t) { fail("--threads must be between 1 and 256", code: 64) }
    guard FileManager.default.fileExists(atPath: input) else { fail("no such file: \(input)") }
    let bar = ProgressBar()
    let s: QuantizeSummary
    do {
      s = try Quantizer.quantize(
        input: input, output: output, target: target, keepOutputF16: keepOutputF16,
        threads: threads ?? ProcessInfo.processInfo.activeProcessorCount, progress: bar.handler)
    } catch {
      bar.finishLine()
      switch error {
      case .cannotOpen, .unsupportedSourceType: fail(error.description, code: 2)
      case .sameFile, .unsupportedTarget: fail(error.description, code: 64)
      default: fail(error.description, code: 1)
      }
    }
    bar.finishLine()
    let converted = s.plan.filter { $0.from != $0.to }.count
    print(String(format: "wrote %@: %@, %d tensors (%d converted), %@ -> %@ in %.1f s", output, target.name, s.plan.count, converted,
      formatBytes(s.inputBytes), formatBytes(s.outputBytes), s.seconds))
    // Group the exceptions: one line per (type, reason) with how many tensors it covers.
    var groups: [String: [String]] = [:]
    var order: [String] = []
    for p in s.exceptions {
      let key = "\(p.to.name): \(p.note!)"
      if groups[key] == nil { order.append(key) }
      groups[key, default: []].append(p.name)
    }
    for key in order {
      let names = groups[key]!
      print("  \(key): \(names.count == 1 ? names[0] : "\(names.count) tensors, e.g. \(names[0])")")
    }
  }
}

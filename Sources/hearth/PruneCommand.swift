import ArgumentParser
import Foundation
import Lifecycle

/// `hearth prune IN OUT --drop-layers 3,7-9`: remove transformer blocks, as an experiment to
/// measure with `hearth eval compare`.
struct PruneCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prune",
    abstract: "Write a copy of a GGUF model without some transformer blocks (renumbering the rest).",
    discussion: """
      Tensor bytes are copied unchanged; <arch>.block_count and per-layer metadata arrays are updated. In Gemma 3 \
      a layer's kind (sliding-window or global) follows its index, so dropping layers can change the kind of the \
      layers after them; such layers are listed. Measure the cost with `hearth eval compare IN OUT`.
      """)

  @Argument(help: "The input .gguf file.") var input: String
  @Argument(help: "The .gguf file to write.") var output: String
  @Option(name: .customLong("drop-layers"), help: "Layers to drop, e.g. 3,7-9 (0-based).") var dropLayers: String

  func run() throws {
    let drop: [Int]
    do { drop = try Pruner.parseLayers(dropLayers) } catch { fail(error.description, code: 64) }
    guard FileManager.default.fileExists(atPath: input) else { fail("no such file: \(input)") }
    let bar = ProgressBar()
    let s: PruneSummary
    do { s = try Pruner.prune(input: input, output: output, drop: drop, progress: bar.handler) } catch {
      bar.finishLine()
      switch error {
      case .cannotOpen, .missingBlockCount: fail(error.description, code: 2)
      case .layerOutOfRange, .allLayersDropped, .sameFile: fail(error.description, code: 64)
      default: fail(error.description, code: 1)
      }
    }
    bar.finishLine()
    print("wrote \(output): \(s.architecture), \(s.kept.count) of \(s.layersBefore) layers (dropped \(s.dropped.map(String.init).joined(separator: ","))), \(s.tensorsWritten) tensors, \(formatBytes(s.outputBytes))")
    if !s.kindChanged.isEmpty {
      print("note: layers \(s.kindChanged.map(String.init).joined(separator: ",")) (new numbering) changed between sliding-window and global attention")
    }
  }
}

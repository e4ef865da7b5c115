import ArgumentParser
import Engine
import Foundation

/// `hearth convert SRC_DIR OUT.gguf`: a Hugging Face / sentence-transformers BERT folder to one
/// self-contained GGUF (weights, `bert.*` hyperparameters, pooling, vocabulary, tokenizer.json).
struct Convert: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Convert a BERT embedding model folder (config.json, model.safetensors, tokenizer.json) to GGUF.")

  @Argument(help: "The model folder.") var source: String
  @Argument(help: "The GGUF file to write.") var output: String
  @Option(help: "Type of the weight matrices: f32, f16 or q8_0 (norms and biases stay f32).")
  var type: String = "f32"

  func run() throws {
    guard let t = BertConverter.OutputType(rawValue: type.lowercased()) else {
      fail("--type must be one of \(BertConverter.OutputType.allCases.map(\.rawValue).joined(separator: ", "))", code: 64)
    }
    let s: BertConverter.Summary
    do { s = try BertConverter.convert(folder: source, to: output, type: t) } catch { fail(error.description) }
    let c = s.config
    print("wrote \(output): bert, \(c.layers) layers, dim \(c.dim), \(c.pooling.rawValue) pooling, \(s.tensors) tensors (\(t.rawValue)), \(formatBytes(s.bytes))")
  }
}

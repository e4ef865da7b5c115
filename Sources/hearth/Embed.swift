import ArgumentParser
import Engine
import Foundation

/// `hearth embed --model PATH TEXT...`: one L2-normalised vector per text, as JSON.
struct Embed: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Print embedding vectors as JSON. The model is a BERT folder, a converted BERT GGUF, or a decoder GGUF (mean-pooled).")

  @Option(help: "A BERT model folder (safetensors), a BERT .gguf from `hearth convert`, or a decoder .gguf.") var model: String
  @Option(help: "Threads (default: all cores).") var threads: Int?
  @Argument(help: "The texts to embed.") var texts: [String]

  func validate() throws {
    if texts.isEmpty { throw ValidationError("give at least one text") }
    if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256") }
  }

  func run() throws {
    let embedder: Embedder
    do { embedder = try Embedder(path: model, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount) } catch {
      fail(error.description)
    }
    let result: EmbeddingResult
    do { result = try embedder.embed(texts) } catch { fail(error.description, code: 1) }
    var items: [String] = []
    for (i, v) in result.vectors.enumerated() {
      let numbers = v.map { String(format: "%.7g", $0) }.joined(separator: ",")
      items.append("    {\"index\": \(i), \"tokens\": \(result.tokenCounts[i]), \"embedding\": [\(numbers)]}")
    }
    print("""
      {
        "model": \(jsonString(model)),
        "kind": "\(embedder.kind.rawValue)",
        "dimension": \(embedder.dimension),
        "data": [
      \(items.joined(separator: ",\n"))
        ],
        "usage": {"prompt_tokens": \(result.totalTokens), "total_tokens": \(result.totalTokens)}
      }
      """)
  }

  private func jsonString(_ s: String) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: [s], options: [.withoutEscapingSlashes])) ?? Data("[\"\"]".utf8)
    return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
  }
}

import ArgumentParser
import Engine
import Foundation
import Kernels

/// `hearth score`: teacher-forced log-probabilities of a token sequence, as JSON.
struct Score: ParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Teacher-forced scoring: for each position from --start on, the logprob of the actual token and the top alternatives.")

  @Option(help: "Path to a .gguf model.") var model: String
  @Option(help: "Token ids as a JSON array, e.g. '[1, 504, 3575]'.") var tokens: String
  @Option(help: "First position to score (at least 1).") var start: Int
  @Option(help: "How many top alternatives per position.") var top: Int = 5
  @Flag(help: "Exact mode: f32 activations and reference kernels.") var exact = false
  @Option(help: "Threads (default: all cores).") var threads: Int?

  func run() throws {
    guard let data = tokens.data(using: .utf8), let ids = try? JSONDecoder().decode([Int].self, from: data) else {
      fail("--tokens must be a JSON array of integers", code: 64)
    }
    if top < 0 || top > 100 { fail("--top must be between 0 and 100", code: 64) }
    let m = loadModel(model)
    if let bad = ids.first(where: { $0 < 0 || $0 >= m.config.vocabSize }) {
      fail("token id \(bad) is outside the vocabulary (0..<\(m.config.vocabSize))", code: 64)
    }
    if start < 1 || start >= ids.count { fail("--start must be at least 1 and less than the number of tokens (\(ids.count))", code: 64) }
    if ids.count > m.config.contextLength { fail("\(ids.count) tokens exceed the model's context of \(m.config.contextLength)", code: 64) }
    let scored: [ScoredToken]
    do {
      scored = try Scoring.score(
        model: m.model, tokens: ids, start: start, top: top, mode: exact ? .exact : .fast,
        threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
    } catch { fail("\(error)", code: 1) }
    var lines: [String] = []
    for s in scored {
      let topText = s.top.map { "[\(Int($0[0])), \(fmt($0[1]))]" }.joined(separator: ", ")
      lines.append("  {\"token\": \(s.token), \"logprob\": \(fmt(s.logprob)), \"top\": [\(topText)]}")
    }
    print("[\n" + lines.joined(separator: ",\n") + "\n]")
  }

  private func fmt(_ x: Double) -> String { String(format: "%.6f", x) }
}

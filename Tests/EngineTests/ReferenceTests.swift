import Foundation
import Kernels
import Models
import Testing

@testable import Engine

/// The three real models and their references in Tests/Fixtures/reference (a copy of ../shared/reference).
enum RealModels {
  static var dir: String {
    ProcessInfo.processInfo.environment["HEARTH_MODELS"]
      ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models").standardized.path
  }

  static var referenceDir: String {
    ProcessInfo.processInfo.environment["HEARTH_REFERENCE"]
      ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/reference").standardized.path
  }

  static let files = [
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
    "qwen2": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
  ]

  static func path(_ name: String) -> String { dir + "/" + files[name]! }
}

struct Reference: Decodable {
  struct ErrorStats: Decodable {
    let steps: Int
    let top1_agreement: Double
    let mean_abs_logprob_diff: Double
    let max_abs_logprob_diff: Double
  }
  struct Generation: Decodable {
    let prompt: String
    let prompt_tokens: [Int]
    let tokens: [Int]
  }
  struct Step: Decodable {
    let top5: [[Double]]
    let logprob_of_llamacpp_token: Double
  }
  struct Exact: Decodable {
    let first_scored_position: Int
    let steps: [Step]
  }
  let model_file: String
  let llamacpp_error: ErrorStats
  let generation: [Generation]
  let reference: [Exact]

  static func load(_ name: String) throws -> Reference {
    let url = URL(fileURLWithPath: RealModels.referenceDir + "/\(name).json")
    return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
  }
}

/// Error of Hearth's teacher-forced logprobs against the float64 reference, over all prompts.
struct Agreement: CustomStringConvertible {
  var steps = 0
  var sumAbs = 0.0
  var maxAbs = 0.0
  var top1Agree = 0
  var confidentSteps = 0
  var confidentMisses: [String] = []

  var mean: Double { sumAbs / Double(max(steps, 1)) }
  var top1Rate: Double { Double(top1Agree) / Double(max(steps, 1)) }
  var description: String {
    String(format: "steps %d, mean |Δlogprob| %.5f, max %.5f, top-1 agreement %.4f (%d confident steps, %d missed)",
           steps, mean, maxAbs, top1Rate, confidentSteps, confidentMisses.count)
  }
}

func measure(_ name: String, mode: KernelMode) throws -> (Agreement, Reference)? {
  let path = RealModels.path(name)
  guard FileManager.default.fileExists(atPath: path) else {
    Issue.record("missing \(path): run scripts/fetch-models")
    return nil
  }
  let ref = try Reference.load(name)
  let model = try Architectures.load(path: path)
  let pool = ThreadPool(threads: 2)
  var a = Agreement()
  for (g, r) in zip(ref.generation, ref.reference) {
    // Teacher forcing along llama.cpp's path: prompt plus every generated token but the last.
    let all = g.prompt_tokens + g.tokens
    #expect(r.first_scored_position == g.prompt_tokens.count - 1)
    let scored = try Scoring.score(model: model, tokens: all, start: g.prompt_tokens.count, top: 2, mode: mode, pool: pool)
    #expect(scored.count == r.steps.count)
    for (j, (s, e)) in zip(scored, r.steps).enumerated() {
      let d = abs(s.logprob - e.logprob_of_llamacpp_token)
      a.steps += 1
      a.sumAbs += d
      a.maxAbs = max(a.maxAbs, d)
      let refTop = Int(e.top5[0][0])
      if s.argmax == refTop { a.top1Agree += 1 }
      if e.top5[0][1] - e.top5[1][1] > 0.1 {
        a.confidentSteps += 1
        if s.argmax != refTop { a.confidentMisses.append("\(g.prompt.prefix(20))… step \(j): \(s.argmax) vs \(refTop)") }
      }
    }
  }
  return (a, ref)
}

@Suite(.serialized) struct ReferenceTests {
  /// Exact mode (f32 activations, reference dequantization): every reference token's logprob
  /// within 0.02 of float64, and the float64 argmax wherever it is clear.
  @Test(arguments: ["smollm2", "gemma3", "qwen2"])
  func exactModeMatchesFloat64(_ name: String) throws {
    guard let (a, _) = try measure(name, mode: .exact) else { return }
    print("[reference] \(name) exact: \(a)")
    #expect(a.maxAbs <= 0.02, "\(name): \(a)")
    #expect(a.confidentMisses.isEmpty, "\(name): \(a.confidentMisses)")
  }

  /// Fast mode (quantized activations, SIMD kernels): no further from float64 than llama.cpp.
  @Test(arguments: ["smollm2", "gemma3", "qwen2"])
  func fastModeWithinLlamaCppError(_ name: String) throws {
    guard let (a, ref) = try measure(name, mode: .fast) else { return }
    let bar = ref.llamacpp_error
    print("[reference] \(name) fast: \(a); llama.cpp: mean \(bar.mean_abs_logprob_diff), max \(bar.max_abs_logprob_diff), top-1 \(bar.top1_agreement)")
    #expect(a.mean <= bar.mean_abs_logprob_diff, "\(name): \(a)")
    #expect(a.maxAbs <= bar.max_abs_logprob_diff, "\(name): \(a)")
    #expect(a.confidentMisses.isEmpty, "\(name): \(a.confidentMisses)")
  }
}

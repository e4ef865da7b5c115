import Foundation
import Testing
import Tokenizers

@testable import Engine

/// Runs `requests` together through one scheduler; returns each one's text, finish reason and
/// completion tokens.
func generate(_ model: LoadedModel, _ requests: [GenerationRequest]) -> [(text: String, reason: FinishReason?, tokens: Int)] {
  var config = Scheduler.Config()
  config.kvTokens = 8192
  let scheduler = Scheduler(model: model.model, tokenizer: model.tokenizer, config: config)
  var out = [(text: String, reason: FinishReason?, tokens: Int)](repeating: ("", nil, 0), count: requests.count)
  for (i, r) in requests.enumerated() {
    _ = scheduler.submit(r) { event in
      switch event {
      case .token(_, let t, _): out[i].text += t
      case .finished(let reason, let t, let usage):
        out[i].text += t
        out[i].reason = reason
        out[i].tokens = usage.completionTokens
      case .failed(let m): Issue.record("request \(i) failed: \(m)")
      default: break
      }
      return true
    }
  }
  scheduler.runUntilIdle()
  return out
}

/// End to end with a real model: whatever the model would rather say, the output parses and
/// matches the schema, greedy or sampled, with a roomy or a tight max_tokens.
@Suite(.serialized) struct JSONConstraintModelTests {
  func prompt(_ model: LoadedModel, _ ask: String) throws -> [Int] {
    try model.chatTokens([ChatMessage(role: "user", content: ask)])
  }

  /// The document closed the request: finish reason stop, or length when the closing brace was
  /// the last token allowed (the scheduler checks the token budget before the constraint).
  func ended(_ r: (text: String, reason: FinishReason?, tokens: Int), _ maxTokens: Int) -> Bool {
    r.reason == .stop || (r.reason == .length && r.tokens == maxTokens)
  }

  /// OpenAI's defaults: plain temperature over the whole vocabulary.
  func sampling(_ temperature: Double, seed: UInt64) -> SamplingParams {
    var p = SamplingParams()
    p.temperature = temperature
    p.topK = 0
    p.topP = 1
    p.minP = 0
    p.seed = seed
    return p
  }

  func followsSchema(_ name: String, _ settings: [(Double, UInt64)]) throws {
    guard let path = requireModel(name) else { return }
    let model = try LoadedModel(path: path)
    let g = try JSONGrammar(schemaJSON: personSchema)
    let factory = try JSONConstraint.factory(grammar: g, tokenizer: model.tokenizer)
    let checker = try SchemaChecker(personSchema)
    let ask = try prompt(model, "Invent a person. Reply with JSON: name (string), age (integer), tags (up to 3 strings).")
    for maxTokens in [120, g.minimumTokens + 3] {
      let requests = settings.map { t, seed in
        var r = model.request(prompt: ask, sampling: sampling(t, seed: seed), maxTokens: maxTokens)
        r.constraint = factory
        return r
      }
      for ((t, seed), result) in zip(settings, generate(model, requests)) {
        print("[json] \(name) T=\(t) seed \(seed) max_tokens \(maxTokens): \(result.text)")
        #expect(ended(result, maxTokens), "a complete document ends the request: \(result.text)")
        guard let v = parseJSON(Array(result.text.utf8)) else { Issue.record("not JSON: \(result.text)"); continue }
        #expect(checker.errors(v).isEmpty, "\(checker.errors(v)): \(result.text)")
      }
    }
  }

  @Test func smolLM2FollowsTheSchema() throws {
    try followsSchema("smollm2", [(0, 0), (1, 1), (1, 2), (1, 3), (1, 4), (1.5, 5)])
  }

  /// Gemma's 262k-token vocabulary (SentencePiece with byte fallback).
  @Test func gemmaFollowsTheSchema() throws {
    try followsSchema("gemma3", [(0, 0), (1, 1), (1, 2)])
  }

  @Test func smolLM2JsonObjectMode() throws {
    guard let path = requireModel("smollm2") else { return }
    let model = try LoadedModel(path: path)
    let factory = try JSONConstraint.objectFactory(tokenizer: model.tokenizer)
    let ask = try prompt(model, "List three fruits and their colours as a JSON object.")
    let requests = [(0.0, UInt64(0)), (1.0, 7), (1.0, 8)].map { t, seed in
      var r = model.request(prompt: ask, sampling: sampling(t, seed: seed), maxTokens: 80)
      r.constraint = factory
      return r
    }
    for result in generate(model, requests) {
      print("[json] smollm2 json_object: \(result.text)")
      #expect(ended(result, 80))
      #expect(parseJSON(Array(result.text.utf8)) is [String: Any], "\(result.text)")
    }
  }
}

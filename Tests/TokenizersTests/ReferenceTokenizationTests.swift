import Foundation
import Testing

@testable import Tokenizers

/// Token ids must equal llama.cpp's for every text in the reference files.
@Suite struct ReferenceTokenizationTests {
  static let models = ["smollm2", "qwen2", "gemma3"]

  @Test(arguments: models)
  func tokenizeTexts(_ model: String) throws {
    let ref = try ReferenceFile.load(model)
    let tok = try ModelCache.shared.tokenizer(model)
    for t in ref.tokenize {
      #expect(tok.encode(t.text, addSpecial: true, parseSpecial: true) == t.add_special_true, "\(model) add_special: \(t.text.debugDescription)")
      #expect(tok.encode(t.text, addSpecial: false, parseSpecial: true) == t.add_special_false, "\(model): \(t.text.debugDescription)")
    }
  }

  @Test(arguments: models)
  func generationPrompts(_ model: String) throws {
    let ref = try ReferenceFile.load(model)
    let tok = try ModelCache.shared.tokenizer(model)
    for g in ref.generation {
      #expect(tok.encode(g.prompt, addSpecial: true, parseSpecial: true) == g.prompt_tokens, "\(model): \(g.prompt.debugDescription)")
      let plain = tok.addBos ? Array(g.prompt_tokens.dropFirst()) : g.prompt_tokens
      #expect(tok.encode(g.prompt, addSpecial: false, parseSpecial: true) == plain, "\(model): \(g.prompt.debugDescription)")
    }
  }

  @Test(arguments: models)
  func roundTrip(_ model: String) throws {
    let ref = try ReferenceFile.load(model)
    let tok = try ModelCache.shared.tokenizer(model)
    for text in ref.tokenize.map(\.text) + ref.generation.map(\.prompt) {
      #expect(tok.decode(tok.encode(text, addSpecial: false, parseSpecial: true)) == text, "\(model): \(text.debugDescription)")
    }
  }
}

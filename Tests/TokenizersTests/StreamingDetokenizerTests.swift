import Foundation
import Testing

@testable import Tokenizers

@Suite struct StreamingDetokenizerTests {
  static let texts = [
    "Emoji 🦙🔥 and 👩‍👩‍👧‍👦 family, flags 🇫🇷🇯🇵, tone 👍🏽",
    "中文分词测试：私有化部署大模型。日本語のテキストです。한국어",
    "mixed é ñ ü, math 𝐀𝐁𝐂 and ﬁ ligatures ✓ — done",
  ]

  /// Ids fed one at a time give back exactly the full decode, and every chunk is whole UTF-8.
  @Test(arguments: ReferenceTokenizationTests.models)
  func streamingEqualsFullDecode(_ model: String) throws {
    let tok = try ModelCache.shared.tokenizer(model)
    var sawSplitCharacter = false
    for text in Self.texts {
      let ids = tok.encode(text, addSpecial: true, parseSpecial: true)
      var detok = StreamingDetokenizer(tokenizer: tok)
      var streamed = ""
      for id in ids {
        let bytes = tok.tokenBytes(id)
        if String(validating: bytes, as: UTF8.self) == nil { sawSplitCharacter = true }
        let chunk = detok.add(id)
        #expect(!chunk.unicodeScalars.contains("\u{FFFD}"), "\(model): chunk \(chunk.debugDescription)")
        streamed += chunk
      }
      streamed += detok.flush()
      #expect(streamed == tok.decode(ids, skipSpecial: true), "\(model): \(text)")
      #expect(streamed == text, "\(model): \(text)")
    }
    // The texts must actually exercise characters split across tokens.
    #expect(sawSplitCharacter, "\(model): no token split a character")
  }

  /// llama-server's generated text is the streamed pieces of the generated ids.
  @Test(arguments: ReferenceTokenizationTests.models)
  func matchesLlamaServerContent(_ model: String) throws {
    let ref = try ReferenceFile.load(model)
    let tok = try ModelCache.shared.tokenizer(model)
    for g in ref.generation {
      let ids = g.tokens.last.map(tok.isEOG) == true ? Array(g.tokens.dropLast()) : g.tokens
      var detok = StreamingDetokenizer(tokenizer: tok)
      var text = ids.map { detok.add($0) }.joined()
      text += detok.flush()
      #expect(text == g.text, "\(model): \(g.prompt)")
    }
  }

  @Test func holdsBackIncompleteTail() throws {
    #expect(StreamingDetokenizer.completePrefix([0x61, 0xF0, 0x9F]) == 1)
    #expect(StreamingDetokenizer.completePrefix([0xF0, 0x9F, 0xA6, 0x99]) == 4)
    #expect(StreamingDetokenizer.completePrefix([0xE4, 0xB8]) == 0)
    #expect(StreamingDetokenizer.completePrefix([0xE4, 0x41]) == 2)  // invalid: nothing to wait for
    #expect(StreamingDetokenizer.completePrefix([0x80, 0x80, 0x80, 0x80, 0x80]) == 5)
    let tok = try ModelCache.shared.tokenizer("smollm2")
    // 🦙 is U+1F999 = F0 9F A6 99; SmolLM's byte-level BPE spreads it over several tokens.
    let ids = tok.encode("🦙", addSpecial: false, parseSpecial: false)
    #expect(ids.count > 1)
    var d = StreamingDetokenizer(tokenizer: tok)
    let chunks = ids.map { d.add($0) }
    #expect(chunks.dropLast().allSatisfy(\.isEmpty) && chunks.last == "🦙")
    // An unfinished character comes out as U+FFFD only at the end.
    var cut = StreamingDetokenizer(tokenizer: tok)
    #expect(cut.add(ids[0]).isEmpty)
    #expect(cut.flush() == "\u{FFFD}")
  }

  @Test func specialTokensHiddenUnlessAsked() throws {
    let tok = try ModelCache.shared.tokenizer("smollm2")
    let ids = tok.encode("<|im_start|>user\nhi<|im_end|>", addSpecial: false, parseSpecial: true)
    var hidden = StreamingDetokenizer(tokenizer: tok)
    var shown = StreamingDetokenizer(tokenizer: tok, skipSpecial: false)
    #expect(ids.map { hidden.add($0) }.joined() == "user\nhi")
    #expect(ids.map { shown.add($0) }.joined() == "<|im_start|>user\nhi<|im_end|>")
  }
}

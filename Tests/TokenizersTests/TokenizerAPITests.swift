import Foundation
import GGUF
import Testing

@testable import Tokenizers

/// Special tokens, end-of-generation sets and flags as llama.cpp derives them for the real models.
@Suite struct TokenizerAPITests {
  @Test func smollm() throws {
    let t = try ModelCache.shared.tokenizer("smollm2")
    #expect(t is BPETokenizer)
    #expect(t.vocabSize == 49152 && t.bosId == 1 && t.eosId == 2 && !t.addBos && !t.addEos)
    #expect(t.eogIds == [0, 2, 4])  // <|endoftext|>, <|im_end|>, <reponame> (FIM repo)
    #expect(t.tokenId(for: "<|im_start|>") == 1 && t.tokenId(for: "<|im_end|>") == 2)
    #expect(t.isSpecial(1) && !t.isSpecial(19556) && t.isEOG(2) && !t.isEOG(1))
    #expect(t.tokenBytes(216) == [0x20])  // "Ġ"
    #expect(t.tokenBytes(-1).isEmpty && t.tokenBytes(49152).isEmpty)
    #expect(t.decode([19556, 905]) == "Hello world")
  }

  @Test func qwen() throws {
    let t = try ModelCache.shared.tokenizer("qwen2")
    #expect(t.vocabSize == 151_936 && t.bosId == 151_643 && t.eosId == 151_645 && !t.addBos)
    // "</s>" is an ordinary token in Qwen's vocabulary that llama.cpp's text rule makes EOG.
    #expect(t.eogIds == [128_247, 151_643, 151_645, 151_662, 151_663, 151_664])
    #expect(t.tokenId(for: "<tool_call>") == 151_657 && !t.isSpecial(151_657))  // user-defined: text
    #expect(t.decode([151_644, 872, 198], skipSpecial: true) == "user\n")
    #expect(t.decode([151_644, 872, 198], skipSpecial: false) == "<|im_start|>user\n")
  }

  @Test func gemma() throws {
    let t = try ModelCache.shared.tokenizer("gemma3")
    #expect(t is SPMTokenizer)
    #expect(t.vocabSize == 262_144 && t.bosId == 2 && t.eosId == 1 && t.addBos && !t.addEos)
    #expect(t.eogIds == [1, 106, 212])  // <eos>, <end_of_turn>, </s>
    #expect(t.tokenId(for: "<start_of_turn>") == 105 && t.isSpecial(105))
    #expect(t.tokenBytes(248) == [0x0A])  // <0x0A>
    #expect(t.tokenBytes(236743) == [0x20])  // ▁
    #expect(t.tokenBytes(108) == [0x0A, 0x0A])  // user-defined "\n\n"
    #expect(t.encode("", addSpecial: true, parseSpecial: true) == [2])
    #expect(t.decode([2, 9259, 1902], skipSpecial: true) == "Hello world")
    #expect(t.decode([2, 9259, 1902]) == "<bos>Hello world")
    // Byte fallback: a character with no token comes out as its UTF-8 bytes.
    let ids = t.encode("\u{10FFFD}", addSpecial: false, parseSpecial: false)
    #expect(ids.count == 4 && ids.allSatisfy { (238..<494).contains($0) })
    #expect(t.decode(ids) == "\u{10FFFD}")
  }

  @Test func parseSpecialOff() throws {
    let t = try ModelCache.shared.tokenizer("qwen2")
    let on = t.encode("<|im_start|>", addSpecial: false, parseSpecial: true)
    let off = t.encode("<|im_start|>", addSpecial: false, parseSpecial: false)
    #expect(on == [151_644] && off.count > 1 && !off.contains(151_644))
    // User-defined tokens split out even without parse_special, as in llama.cpp.
    #expect(t.encode("<tool_call>", addSpecial: false, parseSpecial: false) == [151_657])
  }
}

import Foundation
import GGUF
import Testing

@testable import Tokenizers

/// Malformed tokenizer metadata is refused with a typed error, never a trap.
@Suite struct MalformedVocabularyTests {
  static func gguf(_ kv: [(String, GGUFValue)], base: GGUFFile? = nil, remove: [String] = []) throws -> GGUFFile {
    var w = GGUFWriter()
    if let base { w.copyMetadata(from: base) }
    for k in remove { w.remove(k) }
    for (k, v) in kv { w.set(k, v) }
    return try GGUFFile(bytes: w.bytes())
  }

  static let tinyBPE: [(String, GGUFValue)] = [
    ("tokenizer.ggml.model", .string("gpt2")),
    ("tokenizer.ggml.pre", .string("gpt-2")),
    ("tokenizer.ggml.tokens", .array(.string(["a", "b", "ab", "Ġ", "Ġab", "<|endoftext|>"]))),
    ("tokenizer.ggml.token_type", .array(.int32([1, 1, 1, 1, 1, 3]))),
    ("tokenizer.ggml.merges", .array(.string(["a b", "Ġ ab"]))),
    ("tokenizer.ggml.eos_token_id", .uint32(5)),
  ]

  func expectError(_ expected: TokenizerError, _ kv: [(String, GGUFValue)], base: GGUFFile? = nil, remove: [String] = []) throws {
    let f = try Self.gguf(kv, base: base, remove: remove)
    #expect(throws: expected) { try Tokenizers.load(from: f) }
  }

  func with(_ key: String, _ value: GGUFValue?) -> [(String, GGUFValue)] {
    var kv = Self.tinyBPE.filter { $0.0 != key }
    if let value { kv.append((key, value)) }
    return kv
  }

  @Test func tinyVocabularyWorks() throws {
    let t = try Tokenizers.load(from: Self.gguf(Self.tinyBPE))
    #expect(t.encode("ab ab", addSpecial: false, parseSpecial: false) == [2, 4])
    #expect(t.encode("ab<|endoftext|>", addSpecial: false, parseSpecial: true) == [2, 5])
    #expect(t.eogIds == [5])
    // Characters with no token are dropped, as llama.cpp drops them.
    #expect(t.encode("abc", addSpecial: false, parseSpecial: false) == [2])
    #expect(t.decode([-5, 2, 999_999]) == "ab")
  }

  @Test func missingOrMistypedKeys() throws {
    try expectError(.missingMetadata(key: "tokenizer.ggml.model"), with("tokenizer.ggml.model", nil))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.model", expected: "a string"), with("tokenizer.ggml.model", .int32(1)))
    try expectError(.unsupportedModel("rwkv"), with("tokenizer.ggml.model", .string("rwkv")))
    try expectError(.missingMetadata(key: "tokenizer.ggml.tokens"), with("tokenizer.ggml.tokens", nil))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.tokens", expected: "an array of strings"), with("tokenizer.ggml.tokens", .array(.int32([1]))))
    try expectError(.emptyVocabulary, with("tokenizer.ggml.tokens", .array(.string([]))))
    try expectError(.missingMetadata(key: "tokenizer.ggml.merges"), with("tokenizer.ggml.merges", nil))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.merges", expected: "an array of strings"), with("tokenizer.ggml.merges", .string("a b")))
    try expectError(.unsupportedPreTokenizer("nonsense"), with("tokenizer.ggml.pre", .string("nonsense")))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.pre", expected: "a string"), with("tokenizer.ggml.pre", .bool(true)))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.add_bos_token", expected: "a bool"), with("tokenizer.ggml.add_bos_token", .string("yes")))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.scores", expected: "a numeric array"), with("tokenizer.ggml.scores", .array(.string(["x"]))))
  }

  @Test func mismatchedLengthsAndDuplicates() throws {
    try expectError(.lengthMismatch(key: "tokenizer.ggml.token_type", expected: 6, found: 2), with("tokenizer.ggml.token_type", .array(.int32([1, 1]))))
    try expectError(.lengthMismatch(key: "tokenizer.ggml.scores", expected: 6, found: 7), with("tokenizer.ggml.scores", .array(.float32(.init(repeating: 0, count: 7)))))
    try expectError(.duplicateToken(text: "a", firstId: 0, secondId: 2), with("tokenizer.ggml.tokens", .array(.string(["a", "b", "a", "Ġ", "Ġab", "x"]))))
  }

  @Test func badMerges() throws {
    try expectError(.invalidMerge(index: 1, merge: "a zz", reason: "names a token that is not in the vocabulary"), with("tokenizer.ggml.merges", .array(.string(["a b", "a zz"]))))
    try expectError(.invalidMerge(index: 0, merge: "ab", reason: "no space separating two tokens"), with("tokenizer.ggml.merges", .array(.string(["ab"]))))
    try expectError(.invalidMerge(index: 0, merge: "b a", reason: "its result is not in the vocabulary"), with("tokenizer.ggml.merges", .array(.string(["b a"]))))
    try expectError(.invalidMerge(index: 0, merge: "a ", reason: "no space separating two tokens"), with("tokenizer.ggml.merges", .array(.string(["a "]))))
  }

  @Test func badSpecialIds() throws {
    try expectError(.tokenIdOutOfRange(key: "tokenizer.ggml.eos_token_id", id: 6, vocabSize: 6), with("tokenizer.ggml.eos_token_id", .uint32(6)))
    try expectError(.tokenIdOutOfRange(key: "tokenizer.ggml.bos_token_id", id: -1, vocabSize: 6), with("tokenizer.ggml.bos_token_id", .int32(-1)))
    try expectError(.wrongMetadataType(key: "tokenizer.ggml.eos_token_id", expected: "an integer"), with("tokenizer.ggml.eos_token_id", .string("5")))
    // BPE's default BOS (11) lies outside this vocabulary, so asking to add BOS cannot work.
    try expectError(.missingSpecialToken(key: "tokenizer.ggml.bos_token_id"), with("tokenizer.ggml.add_bos_token", .bool(true)))
    // Optional roles out of range are ignored, as llama.cpp does.
    let f = try Self.gguf(with("tokenizer.ggml.padding_token_id", .uint32(999)))
    #expect(try Tokenizers.load(from: f).vocabSize == 6)
  }

  @Test func tinySentencePieceFallsBackToUnknown() throws {
    let f = try Self.gguf([
      ("tokenizer.ggml.model", .string("llama")),
      ("tokenizer.ggml.tokens", .array(.string(["<unk>", "<s>", "</s>", "▁", "a", "▁a", "<0x62>"]))),
      ("tokenizer.ggml.scores", .array(.float32([0, 0, 0, -1, -2, -0.5, 0]))),
      ("tokenizer.ggml.token_type", .array(.int32([2, 3, 3, 1, 1, 1, 6]))),
    ])
    let t = try Tokenizers.load(from: f)
    #expect(t.addBos && t.bosId == 1 && t.eosId == 2)
    // add_space_prefix defaults to true for SPM: " a" → "▁a"; "b" → byte token; "c" → <unk>.
    #expect(t.encode("a", addSpecial: true, parseSpecial: true) == [1, 5])
    #expect(t.encode("ab", addSpecial: false, parseSpecial: true) == [5, 6])
    #expect(t.encode("ac", addSpecial: false, parseSpecial: true) == [5, 0])
    #expect(t.decode([5, 6], skipSpecial: true) == "ab")
  }

  /// Real metadata with one field broken at a time never traps.
  @Test func corruptedRealMetadata() throws {
    let base = try ModelCache.shared.file("smollm2")
    let tokens = try #require(base.array("tokenizer.ggml.tokens")?.strings)
    let mutations: [[(String, GGUFValue)]] = [
      [("tokenizer.ggml.token_type", .array(.int32([1, 3])))],
      [("tokenizer.ggml.token_type", .array(.int32(.init(repeating: 99, count: tokens.count))))],
      [("tokenizer.ggml.merges", .array(.string(["Ġ t", "t h e x"])))],
      [("tokenizer.ggml.tokens", .array(.string(Array(tokens.prefix(10)))))],
      [("tokenizer.ggml.bos_token_id", .uint64(.max))],
      [("tokenizer.ggml.eos_token_id", .float32(1.5))],
      [("tokenizer.ggml.tokens", .array(.string(tokens.map { $0 == "Ġt" ? "" : $0 })))],
    ]
    for kv in mutations {
      let f = try Self.gguf(kv, base: base)
      do {
        let t = try Tokenizers.load(from: f)
        _ = t.encode("Hello world <|im_start|> 123 🦙", addSpecial: true, parseSpecial: true)
        _ = t.decode(Array(0..<64))
      } catch {
        // Typed throws: reaching here at all (rather than trapping) is the point.
        #expect(!error.description.isEmpty)
      }
    }
  }
}

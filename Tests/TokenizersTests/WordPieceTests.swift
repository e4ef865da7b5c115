import Foundation
import Testing

@testable import Tokenizers

/// BERT WordPiece (all-MiniLM-L6-v2's tokenizer.json) against the ids in minilm.json.
@Suite struct WordPieceTests {
  struct MiniLM: Decodable {
    struct Embedding: Decodable { let text: String; let ids: [Int] }
    let embeddings: [Embedding]
  }

  static func tokenizer() throws -> WordPieceTokenizer {
    let url = URL(fileURLWithPath: try requireFile(Paths.models + "/all-minilm-l6-v2/tokenizer.json"))
    return try WordPieceTokenizer(contentsOf: url, maxLength: 256)
  }

  @Test func idsMatchReference() throws {
    let data = try Data(contentsOf: URL(fileURLWithPath: try requireFile(Paths.reference + "/minilm.json")))
    let ref = try JSONDecoder().decode(MiniLM.self, from: data)
    let tok = try Self.tokenizer()
    #expect(ref.embeddings.count >= 20)
    for e in ref.embeddings {
      #expect(tok.encode(e.text, addSpecial: true, parseSpecial: true) == e.ids, "\(e.text.debugDescription)")
    }
  }

  @Test func truncatesWithSpecialTokens() throws {
    let tok = try Self.tokenizer()
    let ids = tok.encode(String(repeating: "word ", count: 400), addSpecial: true, parseSpecial: true)
    #expect(ids.count == 256)
    #expect(ids.first == 101 && ids.last == 102)
    #expect(tok.encode(String(repeating: "word ", count: 400), addSpecial: false, parseSpecial: true).count == 256)
  }

  @Test func specialTokensAndDecode() throws {
    let tok = try Self.tokenizer()
    #expect(tok.tokenId(for: "[CLS]") == 101 && tok.tokenId(for: "[SEP]") == 102 && tok.tokenId(for: "[UNK]") == 100)
    #expect(tok.isSpecial(101) && !tok.isSpecial(1996))
    #expect(tok.encode("a [MASK] b", addSpecial: false, parseSpecial: true) == [1037, 103, 1038])
    #expect(tok.encode("a [MASK] b", addSpecial: false, parseSpecial: false).contains(103) == false)
    let ids = tok.encode("Hello, world! Unbelievable.", addSpecial: true, parseSpecial: true)
    #expect(tok.decode(ids, skipSpecial: true) == "hello, world! unbelievable.")
    #expect(tok.decode(ids, skipSpecial: false) == "[CLS] hello, world! unbelievable. [SEP]")
    // A word longer than 100 characters is one [UNK].
    #expect(tok.encode(String(repeating: "a", count: 101), addSpecial: false, parseSpecial: true) == [100])
  }

  @Test func malformedJSONIsATypedError() throws {
    #expect(throws: TokenizerError.self) { try WordPieceTokenizer(tokenizerJSON: Data("not json".utf8)) }
    #expect(throws: TokenizerError.unsupportedModel("BPE (tokenizer.json)")) {
      try WordPieceTokenizer(tokenizerJSON: Data(#"{"model": {"type": "BPE", "vocab": {}}}"#.utf8))
    }
    #expect(throws: TokenizerError.missingSpecialToken(key: "model.unk_token")) {
      try WordPieceTokenizer(tokenizerJSON: Data(#"{"model": {"type": "WordPiece", "vocab": {"a": 0}}}"#.utf8))
    }
    #expect(throws: TokenizerError.self) {
      try WordPieceTokenizer(tokenizerJSON: Data(#"{"model": {"type": "WordPiece", "unk_token": "a", "vocab": {"a": 0, "b": 0}}}"#.utf8))
    }
  }
}

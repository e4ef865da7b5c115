import Foundation
import GGUF
import Testing

@testable import Tokenizers

/// A stress corpus (unicode classes, whitespace runs, contractions, digits, special-token text,
/// seeded random mixes) tokenized by llama.cpp's llama-server; see scripts/tokenizer-fixtures.
@Suite struct CorpusTokenizationTests {
  struct Corpus: Decodable {
    struct Case: Decodable {
      let text: String
      let parse_special_true: [Int]
      let parse_special_false: [Int]
      let detokenized: String
    }
    let cases: [Case]

    static func load(_ model: String) throws -> Corpus {
      let url = Paths.fixtures.appendingPathComponent("tokenize_\(model).json")
      return try JSONDecoder().decode(Corpus.self, from: Data(contentsOf: url))
    }
  }

  @Test(arguments: ReferenceTokenizationTests.models)
  func matchesLlamaCpp(_ model: String) throws {
    let corpus = try Corpus.load(model)
    let tok = try ModelCache.shared.tokenizer(model)
    var failures = 0
    for c in corpus.cases {
      let a = tok.encode(c.text, addSpecial: false, parseSpecial: true)
      let b = tok.encode(c.text, addSpecial: false, parseSpecial: false)
      if a != c.parse_special_true || b != c.parse_special_false { failures += 1 }
      #expect(a == c.parse_special_true, "\(model) parse_special: \(c.text.debugDescription)")
      #expect(b == c.parse_special_false, "\(model) no parse_special: \(c.text.debugDescription)")
    }
    #expect(corpus.cases.count > 300)
    #expect(failures == 0)
  }

  /// llama-server's /detokenize joins each token's piece, special tokens as text.
  @Test(arguments: ReferenceTokenizationTests.models)
  func piecesMatchLlamaCpp(_ model: String) throws {
    let corpus = try Corpus.load(model)
    let tok = try ModelCache.shared.tokenizer(model)
    for c in corpus.cases {
      let bytes = c.parse_special_true.flatMap { tok.tokenBytes($0) }
      #expect(String(decoding: bytes, as: UTF8.self) == c.detokenized, "\(model): \(c.text.debugDescription)")
    }
  }
}

/// Pre-tokenizers and SPM options the three real models don't use (llama3, default, gpt2, dbrx;
/// add_space_prefix), on copies of their vocabularies with the metadata changed, against
/// llama-tokenize on the same copies (scripts/tokenizer-fixtures).
@Suite struct VariantTokenizationTests {
  struct Variants: Decodable {
    struct Case: Decodable {
      let name: String, base: String, parse_special: Bool, add_special: Bool, text: String, ids: [Int]
      let overrides: [String: Override]
    }
    enum Override: Decodable {
      case string(String), bool(Bool)
      init(from d: Decoder) throws {
        let c = try d.singleValueContainer()
        if let b = try? c.decode(Bool.self) { self = .bool(b) } else { self = .string(try c.decode(String.self)) }
      }
      var gguf: GGUFValue {
        switch self {
        case .string(let s): return .string(s)
        case .bool(let b): return .bool(b)
        }
      }
    }
    let cases: [Case]
  }

  static let cases: [Variants.Case] = {
    let url = Paths.fixtures.appendingPathComponent("tokenize_variants.json")
    return (try? JSONDecoder().decode(Variants.self, from: Data(contentsOf: url)))?.cases ?? []
  }()

  @Test func fixturesPresent() {
    #expect(Set(Self.cases.map(\.name)) == ["llama3", "default", "gpt2", "dbrx", "gemma3-space-prefix"])
  }

  @Test(arguments: cases.indices)
  func matchesLlamaCpp(_ index: Int) throws {
    let c = Self.cases[index]
    var w = GGUFWriter()
    w.copyMetadata(from: try ModelCache.shared.file(c.base))
    for (k, v) in c.overrides { w.set(k, v.gguf) }
    let tok = try Tokenizers.load(from: GGUFFile(bytes: w.bytes()))
    let ids = tok.encode(c.text, addSpecial: c.add_special, parseSpecial: c.parse_special)
    if ids != c.ids {
      // Point at the first difference, with the text around it.
      let i = zip(ids, c.ids).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(ids.count, c.ids.count)
      let context = tok.decode(Array(c.ids[max(0, i - 8)..<min(c.ids.count, i + 8)]))
      Issue.record("\(c.name) parse_special=\(c.parse_special): first difference at token \(i) near \(context.debugDescription)")
    }
  }

  /// llama.cpp's SPM space prefix: added to text after BOS/special tokens, stripped from the
  /// first piece when decoding unless a BOS leads.
  @Test func spacePrefixDecode() throws {
    var w = GGUFWriter()
    w.copyMetadata(from: try ModelCache.shared.file("gemma3"))
    w.set("tokenizer.ggml.add_space_prefix", .bool(true))
    let tok = try Tokenizers.load(from: GGUFFile(bytes: w.bytes()))
    let ids = tok.encode("Hello world", addSpecial: true, parseSpecial: true)
    #expect(ids == [2, 26352, 1902])  // <bos> ▁Hello ▁world
    #expect(tok.decode(Array(ids.dropFirst())) == "Hello world")
    #expect(tok.decode(ids, skipSpecial: false) == "<bos> Hello world")
    #expect(tok.decode(ids, skipSpecial: true) == " Hello world")
  }
}

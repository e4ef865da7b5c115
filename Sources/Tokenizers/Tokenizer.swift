import GGUF

/// Text ↔ token ids for one model. Implementations are immutable after construction (apart from
/// internal, locked caches), so one instance can serve many concurrent requests.
public protocol Tokenizer: Sendable {
  /// Number of token ids (valid ids are `0..<vocabSize`).
  var vocabSize: Int { get }
  var bosId: Int? { get }
  var eosId: Int? { get }
  /// Ids that end generation (eos, eot, `<|im_end|>`, `<end_of_turn>`, ...), per llama.cpp's rules.
  var eogIds: Set<Int> { get }
  /// Whether `encode(_:addSpecial: true, ...)` prepends BOS / appends EOS.
  var addBos: Bool { get }
  var addEos: Bool { get }

  /// Token ids of `text`. `addSpecial` adds BOS/EOS as the model asks (or [CLS]/[SEP] for BERT);
  /// `parseSpecial` lets special-token text in `text` (e.g. `<|im_start|>`) become that token.
  func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int]

  /// Text of `ids`. Special tokens are rendered as their text unless `skipSpecial`.
  func decode(_ ids: [Int], skipSpecial: Bool) -> String

  /// Raw bytes one token contributes to the output (special tokens: their text). May be an
  /// incomplete UTF-8 sequence for byte tokens. Empty for ids out of range.
  func tokenBytes(_ id: Int) -> [UInt8]

  /// Id of the token whose vocabulary text is exactly `text` (e.g. `<|im_start|>`).
  func tokenId(for text: String) -> Int?

  /// Control/unknown tokens: markers that are not text (`<bos>`, `<|im_start|>`, `[CLS]`).
  func isSpecial(_ id: Int) -> Bool
}

extension Tokenizer {
  public func encode(_ text: String) -> [Int] { encode(text, addSpecial: true, parseSpecial: true) }
  public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecial: false) }
  public func isEOG(_ id: Int) -> Bool { eogIds.contains(id) }
}

/// Why a tokenizer could not be built. Malformed metadata always ends here, never in a trap.
public enum TokenizerError: Error, Equatable, Sendable, CustomStringConvertible {
  case missingMetadata(key: String)
  case wrongMetadataType(key: String, expected: String)
  case unsupportedModel(String)
  case unsupportedPreTokenizer(String)
  case emptyVocabulary
  case lengthMismatch(key: String, expected: Int, found: Int)
  case duplicateToken(text: String, firstId: Int, secondId: Int)
  case invalidMerge(index: Int, merge: String, reason: String)
  case tokenIdOutOfRange(key: String, id: Int, vocabSize: Int)
  case missingSpecialToken(key: String)
  case invalidTokenizerJSON(String)

  public var description: String {
    switch self {
    case .missingMetadata(let k): return "tokenizer metadata '\(k)' is missing"
    case .wrongMetadataType(let k, let e): return "tokenizer metadata '\(k)' should be \(e)"
    case .unsupportedModel(let m): return "unsupported tokenizer model '\(m)'"
    case .unsupportedPreTokenizer(let p): return "unsupported pre-tokenizer '\(p)'"
    case .emptyVocabulary: return "the vocabulary is empty"
    case .lengthMismatch(let k, let e, let f): return "'\(k)' has \(f) entries, the vocabulary \(e)"
    case .duplicateToken(let t, let a, let b): return "token '\(t)' appears twice (ids \(a) and \(b))"
    case .invalidMerge(let i, let m, let r): return "merge #\(i) '\(m)': \(r)"
    case .tokenIdOutOfRange(let k, let id, let n): return "'\(k)' = \(id) is outside the vocabulary (\(n) tokens)"
    case .missingSpecialToken(let k): return "the model asks to add a token but '\(k)' is not set"
    case .invalidTokenizerJSON(let r): return "invalid tokenizer.json: \(r)"
    }
  }
}

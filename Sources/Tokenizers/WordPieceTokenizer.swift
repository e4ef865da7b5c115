import Foundation

/// BERT's tokenizer from a HuggingFace `tokenizer.json`: BertNormalizer, BertPreTokenizer,
/// greedy longest-match WordPiece with `##` continuations, `[CLS] ... [SEP]` post-processing and
/// truncation, as the `tokenizers` library runs them.
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
  private let vocab: [String: Int]
  private let idToToken: [String]
  private let unkId: Int
  private let prefix: String
  private let maxInputChars: Int
  private let normalizer: BertNormalizer?
  private let cls: Int?, sep: Int?
  private let special: Set<Int>
  /// Added tokens split out of raw text before normalization, longest first.
  private let added: [(text: [Unicode.Scalar], id: Int, special: Bool, lstrip: Bool, rstrip: Bool)]
  private let cleanup: Bool
  /// Most ids `encode` returns with special tokens included (nil: no truncation).
  public let maxLength: Int?

  /// `maxLength` overrides the file's truncation length (sentence-transformers models truncate
  /// to their `max_seq_length`, not to what tokenizer.json says).
  public init(tokenizerJSON data: Data, maxLength: Int? = nil) throws(TokenizerError) {
    let root: [String: Any]
    do {
      guard let r = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { throw TokenizerError.invalidTokenizerJSON("not an object") }
      root = r
    } catch let e as TokenizerError {
      throw e
    } catch {
      throw .invalidTokenizerJSON("not JSON: \(error.localizedDescription)")
    }
    guard let model = root["model"] as? [String: Any] else { throw .invalidTokenizerJSON("no model") }
    guard (model["type"] as? String) == "WordPiece" else { throw .unsupportedModel("\(model["type"] ?? "none") (tokenizer.json)") }
    guard let v = model["vocab"] as? [String: Any], !v.isEmpty else { throw .emptyVocabulary }
    var vocab: [String: Int] = [:]
    for (k, x) in v {
      guard let id = (x as? NSNumber)?.intValue, id >= 0, id < 4_000_000 else { throw .invalidTokenizerJSON("bad id for '\(k)'") }
      vocab[k] = id
    }
    var addedList: [(text: [Unicode.Scalar], id: Int, special: Bool, lstrip: Bool, rstrip: Bool)] = []
    var special = Set<Int>()
    for t in root["added_tokens"] as? [[String: Any]] ?? [] {
      guard let content = t["content"] as? String, !content.isEmpty, let id = (t["id"] as? NSNumber)?.intValue, id >= 0, id < 4_000_000 else {
        throw .invalidTokenizerJSON("bad added token")
      }
      if let other = vocab[content], other != id { throw .duplicateToken(text: content, firstId: other, secondId: id) }
      vocab[content] = id
      let isSpecial = t["special"] as? Bool ?? false
      if isSpecial { special.insert(id) }
      addedList.append((Array(content.unicodeScalars), id, isSpecial, t["lstrip"] as? Bool ?? false, t["rstrip"] as? Bool ?? false))
    }
    let size = (vocab.values.max() ?? -1) + 1
    var names = [String](repeating: "", count: size)
    for (k, id) in vocab {
      guard names[id].isEmpty else { throw .duplicateToken(text: k, firstId: vocab[names[id]] ?? id, secondId: id) }
      names[id] = k
    }
    idToToken = names
    self.vocab = vocab
    added = addedList.sorted { $0.text.count > $1.text.count }
    self.special = special

    let unk = model["unk_token"] as? String ?? "[UNK]"
    guard let u = vocab[unk] else { throw .missingSpecialToken(key: "model.unk_token") }
    unkId = u
    prefix = model["continuing_subword_prefix"] as? String ?? "##"
    maxInputChars = (model["max_input_chars_per_word"] as? NSNumber)?.intValue ?? 100

    switch root["normalizer"] {
    case nil, is NSNull: normalizer = nil
    case let n as [String: Any]:
      guard (n["type"] as? String) == "BertNormalizer" else { throw .invalidTokenizerJSON("unsupported normalizer \(n["type"] ?? "?")") }
      let lower = n["lowercase"] as? Bool ?? true
      normalizer = BertNormalizer(
        cleanText: n["clean_text"] as? Bool ?? true, handleChineseChars: n["handle_chinese_chars"] as? Bool ?? true,
        stripAccents: n["strip_accents"] as? Bool ?? lower, lowercase: lower)
    default: throw .invalidTokenizerJSON("bad normalizer")
    }
    if let p = root["pre_tokenizer"] as? [String: Any], (p["type"] as? String) != "BertPreTokenizer" {
      throw .invalidTokenizerJSON("unsupported pre_tokenizer \(p["type"] ?? "?")")
    }

    // TemplateProcessing names its special tokens; BertProcessing gives [text, id] pairs.
    var clsId: Int? = nil, sepId: Int? = nil
    if let post = root["post_processor"] as? [String: Any] {
      if let specials = post["special_tokens"] as? [String: Any] {
        func id(_ name: String) -> Int? { ((specials[name] as? [String: Any])?["ids"] as? [NSNumber])?.first?.intValue }
        let single = post["single"] as? [[String: Any]] ?? []
        let names = single.compactMap { ($0["SpecialToken"] as? [String: Any])?["id"] as? String }
        let seqIndex = single.firstIndex { $0["Sequence"] != nil } ?? 0
        clsId = names.first.flatMap { n in single.prefix(seqIndex).contains { ($0["SpecialToken"] as? [String: Any])?["id"] as? String == n } ? id(n) : nil }
        sepId = names.last.flatMap { n in single.suffix(from: seqIndex).contains { ($0["SpecialToken"] as? [String: Any])?["id"] as? String == n } ? id(n) : nil }
      } else {
        clsId = ((post["cls"] as? [Any])?.last as? NSNumber)?.intValue
        sepId = ((post["sep"] as? [Any])?.last as? NSNumber)?.intValue
      }
    }
    for id in [clsId, sepId].compactMap({ $0 }) where id >= size {
      throw .tokenIdOutOfRange(key: "post_processor", id: id, vocabSize: size)
    }
    cls = clsId
    sep = sepId
    cleanup = (root["decoder"] as? [String: Any])?["cleanup"] as? Bool ?? true
    let fileMax = ((root["truncation"] as? [String: Any])?["max_length"] as? NSNumber)?.intValue
    self.maxLength = maxLength ?? fileMax
  }

  public convenience init(contentsOf url: URL, maxLength: Int? = nil) throws {
    try self.init(tokenizerJSON: Data(contentsOf: url), maxLength: maxLength)
  }

  public var vocabSize: Int { idToToken.count }
  public var bosId: Int? { cls }
  public var eosId: Int? { sep }
  public var eogIds: Set<Int> { [] }
  public var addBos: Bool { cls != nil }
  public var addEos: Bool { sep != nil }

  public func tokenId(for text: String) -> Int? { vocab[text] }
  public func isSpecial(_ id: Int) -> Bool { special.contains(id) }

  public func tokenBytes(_ id: Int) -> [UInt8] {
    guard id >= 0 && id < idToToken.count else { return [] }
    let t = idToToken[id]
    return Array((t.hasPrefix(prefix) && !special.contains(id) ? String(t.dropFirst(prefix.count)) : t).utf8)
  }

  public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
    var ids: [Int] = []
    for segment in splitAdded(Array(text.unicodeScalars), parseSpecial: parseSpecial) {
      switch segment {
      case .token(let id): ids.append(id)
      case .text(let scalars):
        var s = String.UnicodeScalarView()
        s.append(contentsOf: scalars)
        let normalized = normalizer?.normalize(String(s)) ?? String(s)
        for word in BertNormalizer.preTokenize(normalized) { wordPiece(word, into: &ids) }
      }
    }
    let extra = addSpecial ? (cls == nil ? 0 : 1) + (sep == nil ? 0 : 1) : 0
    if let maxLength, ids.count + extra > maxLength { ids.removeLast(ids.count + extra - max(extra, maxLength)) }
    if addSpecial {
      if let cls { ids.insert(cls, at: 0) }
      if let sep { ids.append(sep) }
    }
    return ids
  }

  private enum Segment { case text(ArraySlice<Unicode.Scalar>), token(Int) }

  /// Added tokens are matched leftmost, longest first, in the raw text.
  private func splitAdded(_ u: [Unicode.Scalar], parseSpecial: Bool) -> [Segment] {
    let candidates = added.filter { parseSpecial || !$0.special }
    guard !candidates.isEmpty else { return [.text(u[...])] }
    var out: [Segment] = []
    var start = 0, i = 0
    while i < u.count {
      guard let m = candidates.first(where: { c in i + c.text.count <= u.count && u[i..<(i + c.text.count)].elementsEqual(c.text) }) else {
        i += 1
        continue
      }
      var textEnd = i
      if m.lstrip { while textEnd > start, u[textEnd - 1].properties.isWhitespace { textEnd -= 1 } }
      if textEnd > start { out.append(.text(u[start..<textEnd])) }
      out.append(.token(m.id))
      i += m.text.count
      if m.rstrip { while i < u.count, u[i].properties.isWhitespace { i += 1 } }
      start = i
    }
    if start < u.count { out.append(.text(u[start...])) }
    return out
  }

  private func wordPiece(_ word: [Unicode.Scalar], into ids: inout [Int]) {
    guard word.count <= maxInputChars else { ids.append(unkId); return }
    var pieces: [Int] = []
    var start = 0
    while start < word.count {
      var end = word.count
      var found: Int? = nil
      while end > start {
        var s = String.UnicodeScalarView()
        if start > 0 { s.append(contentsOf: prefix.unicodeScalars) }
        s.append(contentsOf: word[start..<end])
        if let id = vocab[String(s)] { found = id; break }
        end -= 1
      }
      guard let id = found else { ids.append(unkId); return }
      pieces.append(id)
      start = end
    }
    ids.append(contentsOf: pieces)
  }

  /// HuggingFace's WordPiece decoder: continuations glue on, other tokens get a space, then the
  /// per-token cleanup of spaces before punctuation and contractions.
  public func decode(_ ids: [Int], skipSpecial: Bool) -> String {
    var out = ""
    var first = true
    for id in ids where id >= 0 && id < idToToken.count {
      if skipSpecial && special.contains(id) { continue }
      var t = idToToken[id]
      if !first { t = t.hasPrefix(prefix) ? String(t.dropFirst(prefix.count)) : " " + t }
      first = false
      if cleanup {
        for (a, b) in [(" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
          (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re")]
        {
          t = t.replacingOccurrences(of: a, with: b)
        }
      }
      out += t
    }
    return out
  }
}

import Foundation

/// HuggingFace `tokenizers`' BertNormalizer and BertPreTokenizer.
struct BertNormalizer: Sendable {
  let cleanText: Bool
  let handleChineseChars: Bool
  let stripAccents: Bool
  let lowercase: Bool

  /// Clean text, pad CJK ideographs with spaces, strip accents (NFD minus Mn), lowercase — in
  /// the library's order.
  func normalize(_ text: String) -> String {
    var u = String.UnicodeScalarView()
    for c in text.unicodeScalars {
      if cleanText {
        if c.value == 0 || c.value == 0xFFFD || Self.isControl(c) { continue }
        if Self.isWhitespace(c) { u.append(" "); continue }
      }
      if handleChineseChars && Self.isChinese(c.value) {
        u.append(" ")
        u.append(c)
        u.append(" ")
      } else {
        u.append(c)
      }
    }
    var s = String(u)
    if stripAccents {
      var kept = String.UnicodeScalarView()
      for c in s.decomposedStringWithCanonicalMapping.unicodeScalars where c.properties.generalCategory != .nonspacingMark {
        kept.append(c)
      }
      s = String(kept)
    }
    if lowercase {
      // Rust's char::to_lowercase, one code point at a time (no context-dependent final sigma).
      var lower = String.UnicodeScalarView()
      for c in s.unicodeScalars { lower.append(contentsOf: c.properties.lowercaseMapping.unicodeScalars) }
      s = String(lower)
    }
    return s
  }

  /// Split on whitespace (dropped) and punctuation (kept as one-character words).
  static func preTokenize(_ text: String) -> [[Unicode.Scalar]] {
    var words: [[Unicode.Scalar]] = []
    var cur: [Unicode.Scalar] = []
    for c in text.unicodeScalars {
      if c.properties.isWhitespace {
        if !cur.isEmpty { words.append(cur); cur = [] }
      } else if isPunctuation(c) {
        if !cur.isEmpty { words.append(cur); cur = [] }
        words.append([c])
      } else {
        cur.append(c)
      }
    }
    if !cur.isEmpty { words.append(cur) }
    return words
  }

  static func isWhitespace(_ c: Unicode.Scalar) -> Bool {
    c == "\t" || c == "\n" || c == "\r" || c.properties.isWhitespace
  }

  /// Unicode "Other" (Cc, Cf, Cn, Co, Cs) except tab, newline and carriage return.
  static func isControl(_ c: Unicode.Scalar) -> Bool {
    if c == "\t" || c == "\n" || c == "\r" { return false }
    switch c.properties.generalCategory {
    case .control, .format, .unassigned, .privateUse, .surrogate: return true
    default: return false
    }
  }

  /// ASCII punctuation (which includes `$+<=>^`|~`) or any Unicode P* character.
  static func isPunctuation(_ c: Unicode.Scalar) -> Bool {
    if c.isASCII {
      let v = c.value
      return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v) || (0x7B...0x7E).contains(v)
    }
    switch c.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation, .initialPunctuation, .finalPunctuation,
      .otherPunctuation:
      return true
    default: return false
    }
  }

  /// The CJK blocks BERT splits per character (including the 0x2B920 quirk of the Rust code).
  static func isChinese(_ cp: UInt32) -> Bool {
    (0x4E00...0x9FFF).contains(cp) || (0x3400...0x4DBF).contains(cp) || (0x20000...0x2A6DF).contains(cp)
      || (0x2A700...0x2B73F).contains(cp) || (0x2B740...0x2B81F).contains(cp) || (0x2B920...0x2CEAF).contains(cp)
      || (0xF900...0xFAFF).contains(cp) || (0x2F800...0x2FA1F).contains(cp)
  }
}

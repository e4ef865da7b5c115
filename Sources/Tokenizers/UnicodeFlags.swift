/// Code point classes as llama.cpp's `unicode_cpt_flags` has them: one general-category group
/// bit plus a whitespace bit. Pre-tokenizers only ever ask these questions, so they are answered
/// from one table lookup instead of Swift's per-scalar property queries.
struct CodepointFlags: Sendable {
  let raw: UInt16

  static let undefined: UInt16 = 0x0001
  static let number: UInt16 = 0x0002
  static let letter: UInt16 = 0x0004
  static let separator: UInt16 = 0x0008
  static let accentMark: UInt16 = 0x0010
  static let punctuation: UInt16 = 0x0020
  static let symbol: UInt16 = 0x0040
  static let control: UInt16 = 0x0080
  static let whitespace: UInt16 = 0x0100

  @inline(__always) var isNumber: Bool { raw & Self.number != 0 }
  @inline(__always) var isLetter: Bool { raw & Self.letter != 0 }
  @inline(__always) var isWhitespace: Bool { raw & Self.whitespace != 0 }
  @inline(__always) var isPunctuation: Bool { raw & Self.punctuation != 0 }
  @inline(__always) var isAccentMark: Bool { raw & Self.accentMark != 0 }
  @inline(__always) var isSymbol: Bool { raw & Self.symbol != 0 }
  @inline(__always) var isControl: Bool { raw & Self.control != 0 }
  /// Zero only for "no code point" (past the end of a piece), as llama.cpp's `as_uint()`.
  @inline(__always) var isNone: Bool { raw == 0 }

  static let none = CodepointFlags(raw: 0)

  @inline(__always)
  static func of(_ cp: UInt32) -> CodepointFlags {
    if cp < 0x80 { return CodepointFlags(raw: ascii[Int(cp)]) }
    return CodepointFlags(raw: compute(cp))
  }

  /// ASCII is most text; other code points are classified on demand (pre-tokenizers classify
  /// each code point of a piece once, see `PreTokenizer.split`).
  private static let ascii: [UInt16] = (0..<0x80).map { compute(UInt32($0)) }

  /// The White_Space property, as llama.cpp's `unicode_set_whitespace` lists it.
  static func isWhitespace(_ cp: UInt32) -> Bool {
    switch cp {
    case 0x09...0x0D, 0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
    default: return false
    }
  }

  private static func compute(_ cp: UInt32) -> UInt16 {
    let ws: UInt16 = isWhitespace(cp) ? whitespace : 0
    guard let s = Unicode.Scalar(cp) else { return control | ws }  // surrogates (Cs)
    switch s.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter | ws
    case .nonspacingMark, .spacingMark, .enclosingMark: return accentMark | ws
    case .decimalNumber, .letterNumber, .otherNumber: return number | ws
    case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
      .initialPunctuation, .finalPunctuation, .otherPunctuation:
      return punctuation | ws
    case .mathSymbol, .currencySymbol, .modifierSymbol, .otherSymbol: return symbol | ws
    case .spaceSeparator, .lineSeparator, .paragraphSeparator: return separator | ws
    case .control, .format, .surrogate, .privateUse: return control | ws
    case .unassigned: return undefined | ws
    @unknown default: return undefined | ws
    }
  }
}

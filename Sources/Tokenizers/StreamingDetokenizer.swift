/// Turns generated token ids into text as they arrive, never splitting a UTF-8 character.
///
/// Byte-level BPE and SentencePiece byte-fallback tokens can each carry part of a character (an
/// emoji is often three or four tokens), so the incomplete tail is held back until the rest
/// arrives. The text is what llama-server streams: each token's piece concatenated (special
/// tokens hidden unless asked for), so the pieces joined equal `decode(ids, skipSpecial:)` for
/// tokenizers without llama.cpp's `clean_spaces` post-pass.
public struct StreamingDetokenizer: Sendable {
  public let tokenizer: any Tokenizer
  public let skipSpecial: Bool
  private var pending: [UInt8] = []

  public init(tokenizer: any Tokenizer, skipSpecial: Bool = true) {
    self.tokenizer = tokenizer
    self.skipSpecial = skipSpecial
  }

  /// Text that became complete with this token (often empty mid-character).
  public mutating func add(_ id: Int) -> String {
    if !(skipSpecial && tokenizer.isSpecial(id)) { pending.append(contentsOf: tokenizer.tokenBytes(id)) }
    let n = Self.completePrefix(pending)
    guard n > 0 else { return "" }
    let text = String(decoding: pending[..<n], as: UTF8.self)
    pending.removeFirst(n)
    return text
  }

  /// Whatever is held back, invalid bytes as U+FFFD; call when generation ends.
  public mutating func flush() -> String {
    defer { pending.removeAll() }
    return String(decoding: pending, as: UTF8.self)
  }

  /// Length of the prefix that ends on a character boundary: everything but a trailing lead byte
  /// whose continuation bytes have not all arrived yet.
  static func completePrefix(_ b: [UInt8]) -> Int {
    var i = b.count - 1
    while i >= 0 && b.count - i <= 4 {
      let c = b[i]
      if c & 0xC0 != 0x80 {
        let need: Int
        switch c {
        case 0xC0..<0xE0: need = 2
        case 0xE0..<0xF0: need = 3
        case 0xF0..<0xF8: need = 4
        default: need = 1  // ASCII, or a byte that can never start a character: nothing to wait for
        }
        return b.count - i >= need ? b.count : i
      }
      i -= 1
    }
    return b.count
  }
}

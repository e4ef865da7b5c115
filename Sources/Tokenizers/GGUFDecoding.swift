/// Token → text for GGUF vocabularies, following llama.cpp's `token_to_piece` and `detokenize`.
extension GGUFVocabulary {
  /// Bytes one token contributes. `special` renders control/unknown tokens as their text.
  func piece(_ id: Int, special: Bool) -> [UInt8] {
    guard isValid(id) else { return [] }
    let attr = attrs[id]
    if !special && !attr.isDisjoint(with: [.control, .unknown]) { return [] }
    if !attr.isDisjoint(with: [.control, .unknown, .userDefined]) { return Array(table.bytes(id)) }
    if attr.contains(.normal) {
      switch kind {
      case .bpe: return ByteLevel.decode(table.bytes(id))
      case .spm: return Self.unescapeWhitespace(table.bytes(id))
      }
    }
    if attr.contains(.byte), let b = byteValue(id) { return [b] }
    // Unused and undefined tokens have no text (llama.cpp suppresses them like control tokens).
    return []
  }

  /// llama.cpp's `llama_detokenize` with `remove_special = skipSpecial`, `unparse_special = !skipSpecial`.
  func detokenize(_ ids: [Int], skipSpecial: Bool) -> String {
    var ids = ids[...]
    var removeSpace = addSpacePrefix
    if skipSpecial && addBos, let first = ids.first, first == bos {
      removeSpace = false
      ids = ids.dropFirst()
    }
    if skipSpecial && addEos, let last = ids.last, last == eos { ids = ids.dropLast() }
    var out: [UInt8] = []
    for id in ids {
      var p = piece(id, special: !skipSpecial)
      if removeSpace, p.first == UInt8(ascii: " ") { p.removeFirst() }
      removeSpace = false
      out.append(contentsOf: p)
    }
    if cleanSpaces { out = Self.cleanSpaces(out) }
    return String(decoding: out, as: UTF8.self)
  }

  /// `▁` (U+2581, E2 96 81) back to a space.
  static func unescapeWhitespace(_ b: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(b.count)
    var i = b.startIndex
    while i < b.endIndex {
      if b[i] == 0xE2, i + 2 < b.endIndex, b[i + 1] == 0x96, b[i + 2] == 0x81 {
        out.append(0x20)
        i += 3
      } else {
        out.append(b[i])
        i += 1
      }
    }
    return out
  }

  /// llama.cpp's `clean_spaces` passes, byte for byte: drop the space before `?!.,`, collapse
  /// ` ' ` to `'`, and join ` 's`, ` 'm`, ` 're`, ` 've` to the previous word.
  static func cleanSpaces(_ input: [UInt8]) -> [UInt8] {
    let space = UInt8(ascii: " "), quote = UInt8(ascii: "'")
    var t = input
    // Pass 1.
    var total = t.isEmpty ? 0 : 1
    var i = 1
    while i < t.count {
      let x = t[i]
      if t[i - 1] == space, x == UInt8(ascii: "?") || x == UInt8(ascii: "!") || x == UInt8(ascii: ".") || x == UInt8(ascii: ",") {
        total -= 1
      }
      t[total] = x
      total += 1
      i += 1
    }
    t.removeSubrange(total...)
    // Pass 2.
    total = t.isEmpty ? 0 : 1
    i = 1
    while i < t.count {
      let x = t[i]
      if x == quote, i + 1 < t.count, t[i - 1] == space, t[i + 1] == space {
        total -= 1
        i += 1
        t[i] = 0
      }
      t[total] = x
      total += 1
      i += 1
    }
    t.removeSubrange(total...)
    // Pass 3.
    total = t.isEmpty ? 0 : 1
    i = 1
    while i < t.count {
      let x = t[i]
      if t[i - 1] == space, x == quote, i + 1 < t.count {
        let x1 = t[i + 1]
        if x1 == UInt8(ascii: "s") || x1 == UInt8(ascii: "m") {
          total -= 1
        } else if x1 != UInt8(ascii: "t") && x1 != UInt8(ascii: "d") && i + 2 < t.count {
          let x2 = t[i + 2]
          if (x1 == UInt8(ascii: "r") && x2 == UInt8(ascii: "e")) || (x1 == UInt8(ascii: "v") && x2 == UInt8(ascii: "e")) {
            total -= 1
          }
        }
      }
      t[total] = x
      total += 1
      i += 1
    }
    t.removeSubrange(total...)
    return t
  }
}

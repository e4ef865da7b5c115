/// GPT-2's byte-level alphabet: every byte stands for one printable code point, so that a
/// vocabulary of strings can hold arbitrary bytes.
enum ByteLevel {
  /// Code point that stands for each byte.
  static let byteToScalar: [UInt32] = {
    var map = [UInt32](repeating: 0, count: 256)
    var printable = [Bool](repeating: false, count: 256)
    for b in 0x21...0x7E { printable[b] = true }
    for b in 0xA1...0xAC { printable[b] = true }
    for b in 0xAE...0xFF { printable[b] = true }
    var next: UInt32 = 256
    for b in 0..<256 {
      if printable[b] {
        map[b] = UInt32(b)
      } else {
        map[b] = next
        next += 1
      }
    }
    return map
  }()

  /// UTF-8 of each byte's stand-in, ready to append.
  static let byteToUTF8: [[UInt8]] = byteToScalar.map { Array(String(Unicode.Scalar($0)!).utf8) }

  /// Byte a stand-in code point denotes (nil for code points outside the alphabet).
  static func byte(for scalar: UInt32) -> UInt8? {
    if scalar < 0x100 {
      let b = Int(scalar)
      return byteToScalar[b] == scalar ? UInt8(b) : nil
    }
    return scalar < 0x144 ? inverseHigh[Int(scalar - 0x100)] : nil
  }

  private static let inverseHigh: [UInt8?] = {
    var inv = [UInt8?](repeating: nil, count: 0x44)
    for b in 0..<256 where byteToScalar[b] >= 0x100 { inv[Int(byteToScalar[b] - 0x100)] = UInt8(b) }
    return inv
  }()

  /// Raw bytes of a byte-level token text, as llama.cpp's `llama_decode_text`: code points outside
  /// the alphabet come out as an `[UNK_BYTE_0x..]` marker.
  static func decode(_ text: ArraySlice<UInt8>) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(text.count)
    let whole = String(decoding: text, as: UTF8.self)
    for s in whole.unicodeScalars {
      if let b = byte(for: s.value) {
        out.append(b)
      } else {
        out.append(contentsOf: "[UNK_BYTE_0x".utf8)
        for u in String(s).utf8 {
          let hex = String(u, radix: 16)
          out.append(contentsOf: (hex.count == 1 ? "0" + hex : hex).utf8)
        }
        out.append(contentsOf: text)
        out.append(UInt8(ascii: "]"))
      }
    }
    return out
  }
}

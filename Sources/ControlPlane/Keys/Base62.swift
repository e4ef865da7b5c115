import Crypto
import Foundation

/// Base62 alphabet helpers, CRC-32 and constant-time comparison for API key tokens.
enum Base62 {
  static let alphabet: [UInt8] = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)

  /// True for bytes of the alphabet; a branch-free table lookup keeps parsing cheap.
  static let isDigit: [Bool] = {
    var t = [Bool](repeating: false, count: 256)
    for c in alphabet { t[Int(c)] = true }
    return t
  }()

  /// `count` characters drawn uniformly from the alphabet with a CSPRNG (rejection sampling, no modulo bias).
  static func random(count: Int) -> String {
    var out = [UInt8]()
    out.reserveCapacity(count)
    var rng = SystemRandomNumberGenerator()
    while out.count < count {
      let b = UInt8.random(in: 0...255, using: &rng)
      if b < 248 { out.append(alphabet[Int(b % 62)]) }  // 248 = 4 * 62
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// `value` as exactly `width` base62 digits, most significant first.
  static func encode(_ value: UInt64, width: Int) -> [UInt8] {
    var v = value
    var out = [UInt8](repeating: alphabet[0], count: width)
    for i in stride(from: width - 1, through: 0, by: -1) {
      out[i] = alphabet[Int(v % 62)]
      v /= 62
    }
    return out
  }
}

/// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320): the API key checksum. It catches typos and
/// truncation before any database lookup; it is not a security boundary (the HMAC is).
enum CRC32 {
  static let table: [UInt32] = (0..<256).map { i -> UInt32 in
    var c = UInt32(i)
    for _ in 0..<8 { c = (c & 1) != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  static func checksum<S: Sequence>(_ bytes: S) -> UInt32 where S.Element == UInt8 {
    var c: UInt32 = 0xFFFF_FFFF
    for b in bytes { c = table[Int((c ^ UInt32(b)) & 0xFF)] ^ (c >> 8) }
    return c ^ 0xFFFF_FFFF
  }
}

/// Compares two byte strings in time that depends only on their lengths, never on where they differ.
public func safeCompare<A: DataProtocol, B: DataProtocol>(_ a: A, _ b: B) -> Bool {
  guard a.count == b.count else { return false }
  var diff: UInt8 = 0
  for (x, y) in zip(a, b) { diff |= x ^ y }
  return diff == 0
}

extension Data {
  var hexString: String { map { String(format: "%02x", $0) }.joined() }

  init?(hexString: String) {
    let chars = Array(hexString.utf8)
    guard chars.count % 2 == 0 else { return nil }
    var out = Data(capacity: chars.count / 2)
    func nibble(_ c: UInt8) -> UInt8? {
      switch c {
      case 48...57: c - 48
      case 97...102: c - 87
      case 65...70: c - 55
      default: nil
      }
    }
    var i = 0
    while i < chars.count {
      guard let hi = nibble(chars[i]), let lo = nibble(chars[i + 1]) else { return nil }
      out.append(hi << 4 | lo)
      i += 2
    }
    self = out
  }
}

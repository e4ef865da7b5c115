import Foundation

/// Why a presented API key string is refused before any lookup.
public enum KeyFormatError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Wrong length, prefix, separator or alphabet.
  case malformed
  /// Well formed, but the checksum does not match: a typo or a truncated paste.
  case badChecksum

  public var description: String {
    switch self {
    case .malformed: "malformed API key (expected hk_<12 base62>_<32 base62>)"
    case .badChecksum: "API key checksum mismatch (the key was mistyped or truncated)"
    }
  }
}

/// An API key as presented by a client: `hk_<keyid>_<secret>`.
///
/// - keyid: 12 base62 characters, random, public (it appears in logs, audit records and listings).
/// - secret: 32 base62 characters: 26 random (about 155 bits) then 6 holding the CRC-32 of everything
///   before them (`hk_<keyid>_<26 random>`), so typos and truncation fail before any lookup.
///
/// The whole token is exactly 48 ASCII bytes; parsing checks the length first, so a 10 KB header costs
/// no more than a short one.
public struct APIKeyToken: Sendable, Equatable {
  public static let prefix = "hk_"
  public static let keyIDLength = 12
  public static let secretLength = 32
  static let checksumLength = 6
  public static let tokenLength = 3 + keyIDLength + 1 + secretLength

  public let keyID: String
  /// The secret part (32 characters, checksum included). Never log it.
  public let secret: String

  /// The full token, as the client sends it. Never log it.
  public var token: String { "\(Self.prefix)\(keyID)_\(secret)" }

  /// A fresh token; with `keyID` nil a new random id is drawn (rotation keeps the id).
  public static func generate(keyID: String? = nil) -> APIKeyToken {
    let id = keyID ?? Base62.random(count: keyIDLength)
    let random = Base62.random(count: secretLength - checksumLength)
    let body = Array("\(prefix)\(id)_\(random)".utf8)
    let check = Base62.encode(UInt64(CRC32.checksum(body)), width: checksumLength)
    return APIKeyToken(keyID: id, secret: random + String(decoding: check, as: UTF8.self))
  }

  /// True when `id` has the shape of a key id (for ids typed on the command line).
  public static func isValidKeyID(_ id: String) -> Bool {
    let u = Array(id.utf8)
    return u.count == keyIDLength && u.allSatisfy { Base62.isDigit[Int($0)] }
  }

  /// Parses a presented key, optionally with a `Bearer ` prefix already stripped by the caller.
  public static func parse(_ presented: String) throws(KeyFormatError) -> APIKeyToken {
    var bytes = [UInt8]()
    // The length check comes first: no work proportional to an oversized input.
    guard presented.utf8.count == tokenLength else { throw .malformed }
    bytes.reserveCapacity(tokenLength)
    bytes.append(contentsOf: presented.utf8)
    guard bytes[0] == UInt8(ascii: "h"), bytes[1] == UInt8(ascii: "k"), bytes[2] == UInt8(ascii: "_"),
      bytes[3 + keyIDLength] == UInt8(ascii: "_")
    else { throw .malformed }
    var ok = true
    for i in 3..<(3 + keyIDLength) { ok = ok && Base62.isDigit[Int(bytes[i])] }
    for i in (4 + keyIDLength)..<tokenLength { ok = ok && Base62.isDigit[Int(bytes[i])] }
    guard ok else { throw .malformed }
    let split = tokenLength - checksumLength
    let expected = Base62.encode(UInt64(CRC32.checksum(bytes[0..<split])), width: checksumLength)
    guard safeCompare(expected, bytes[split..<tokenLength]) else { throw .badChecksum }
    return APIKeyToken(
      keyID: String(decoding: bytes[3..<(3 + keyIDLength)], as: UTF8.self),
      secret: String(decoding: bytes[(4 + keyIDLength)...], as: UTF8.self))
  }
}

extension APIKeyToken: CustomStringConvertible, CustomDebugStringConvertible {
  /// Redacted: printing a token by mistake shows only its id.
  public var description: String { "hk_\(keyID)_<redacted>" }
  public var debugDescription: String { description }
}

/// A registry model name, checked before it reaches any filesystem call: it becomes a directory
/// name, so it may hold no path separator, no `..`, no control character, and only a small
/// charset (letters, digits, `.`, `_`, `-`), starting with a letter or digit, at most 128
/// characters. `:` is excluded so `name:version` is unambiguous.
public struct ModelName: Hashable, Sendable, Comparable, CustomStringConvertible, Codable {
  public static let maxLength = 128
  public let value: String

  public init(_ s: String) throws(RegistryError) {
    if let reason = Self.problem(s, maxLength: Self.maxLength) { throw .invalidName(s, reason: reason) }
    value = s
  }

  public var description: String { value }
  public static func < (a: ModelName, b: ModelName) -> Bool { a.value < b.value }

  public init(from decoder: any Decoder) throws {
    let s = try decoder.singleValueContainer().decode(String.self)
    do { try self.init(s) } catch { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description)) }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(value)
  }

  /// Why `s` is not a safe path component in the registry's charset, or nil when it is.
  static func problem(_ s: String, maxLength: Int) -> String? {
    if s.isEmpty { return "it is empty" }
    // Count UTF-8 bytes, not characters: the limit protects path lengths.
    if s.utf8.count > maxLength { return "it is longer than \(maxLength) characters" }
    for b in s.utf8 {
      if b < 0x20 || b == 0x7F { return "it contains a control character" }
      if b == UInt8(ascii: "/") || b == UInt8(ascii: "\\") { return "it contains a path separator" }
    }
    if s.contains("..") { return "it contains '..'" }
    for b in s.utf8 where !(isAlnum(b) || b == UInt8(ascii: ".") || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")) {
      return "only letters, digits, '.', '_' and '-' are allowed (found '\(Character(Unicode.Scalar(b)))')"
    }
    if let first = s.utf8.first, !isAlnum(first) { return "it must start with a letter or digit" }
    return nil
  }

  static func isAlnum(_ b: UInt8) -> Bool {
    (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
  }
}

/// A version label: the same charset and checks as a name, at most 64 characters. Imports
/// without one get the next integer ("1", "2", ...).
public struct ModelVersion: Hashable, Sendable, CustomStringConvertible, Codable {
  public static let maxLength = 64
  public let value: String

  public init(_ s: String) throws(RegistryError) {
    if let reason = ModelName.problem(s, maxLength: Self.maxLength) { throw .invalidVersion(s, reason: reason) }
    value = s
  }

  public var description: String { value }
  /// The integer value of an auto-assigned version, nil for a label such as `v1.2`.
  public var number: Int? { value.utf8.allSatisfy { $0 >= 0x30 && $0 <= 0x39 } && value.utf8.count <= 18 ? Int(value) : nil }

  public init(from decoder: any Decoder) throws {
    let s = try decoder.singleValueContainer().decode(String.self)
    do { try self.init(s) } catch { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description)) }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(value)
  }
}

/// A content digest, `sha256:` and 64 lowercase hex characters. The hex part names the blob file,
/// so nothing else is accepted.
public struct Digest: Hashable, Sendable, CustomStringConvertible, Codable {
  public let value: String

  public init(_ s: String) throws(RegistryError) {
    guard Self.isValid(s) else { throw .invalidDigest(s) }
    value = s
  }

  init(sha256 bytes: some Sequence<UInt8>) {
    value = "sha256:" + bytes.map { b in
      let h = String(b, radix: 16)
      return h.count == 1 ? "0" + h : h
    }.joined()
  }

  /// The 64 hex characters (the blob's file name).
  public var hex: String { String(value.dropFirst(7)) }
  public var description: String { value }

  public static func isValid(_ s: String) -> Bool {
    let u = Array(s.utf8)
    guard u.count == 71, s.hasPrefix("sha256:") else { return false }
    return u[7...].allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
  }

  public init(from decoder: any Decoder) throws {
    let s = try decoder.singleValueContainer().decode(String.self)
    do { try self.init(s) } catch { throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: error.description)) }
  }

  public func encode(to encoder: any Encoder) throws {
    var c = encoder.singleValueContainer()
    try c.encode(value)
  }
}

/// `name` or `name:version`, as the CLI and deployments write a model reference.
public struct ModelReference: Sendable, Equatable, CustomStringConvertible {
  public let name: ModelName
  public let version: ModelVersion?

  public init(name: ModelName, version: ModelVersion?) {
    self.name = name
    self.version = version
  }

  public init(parsing s: String) throws(RegistryError) {
    if let colon = s.firstIndex(of: ":") {
      name = try ModelName(String(s[..<colon]))
      version = try ModelVersion(String(s[s.index(after: colon)...]))
    } else {
      name = try ModelName(s)
      version = nil
    }
  }

  public var description: String { version.map { "\(name):\($0)" } ?? name.value }
}

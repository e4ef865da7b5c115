/// The subset of ASN.1 BER that LDAPv3 uses (RFC 4511 §5.1): one-byte tags (numbers below 31),
/// definite lengths only, primitive strings only. Anything else is refused, so a hostile server
/// cannot make the reader allocate, recurse or loop beyond what its bytes already cost.
enum BERTag {
  static let boolean: UInt8 = 0x01
  static let integer: UInt8 = 0x02
  static let octetString: UInt8 = 0x04
  static let null: UInt8 = 0x05
  static let enumerated: UInt8 = 0x0A
  static let sequence: UInt8 = 0x30
  static let set: UInt8 = 0x31

  /// [APPLICATION n], constructed or primitive.
  static func application(_ number: UInt8, constructed: Bool) -> UInt8 {
    0x40 | (constructed ? 0x20 : 0) | number
  }

  /// [n] context-specific, constructed or primitive.
  static func context(_ number: UInt8, constructed: Bool) -> UInt8 {
    0x80 | (constructed ? 0x20 : 0) | number
  }

  static func isConstructed(_ tag: UInt8) -> Bool { tag & 0x20 != 0 }
}

/// Why a BER reader gave up. Mapped to `LDAPError.protocolError` at the module boundary.
struct BERError: Error, Equatable, CustomStringConvertible {
  let description: String
  init(_ description: String) { self.description = description }
}

/// Writes BER with minimal definite lengths (which is also DER-shaped, as servers expect).
struct BERWriter {
  private(set) var bytes: [UInt8] = []

  mutating func writeTLV(tag: UInt8, contents: [UInt8]) {
    bytes.append(tag)
    Self.appendLength(contents.count, to: &bytes)
    bytes.append(contentsOf: contents)
  }

  /// A constructed element whose contents `build` writes.
  mutating func writeConstructed(tag: UInt8, _ build: (inout BERWriter) -> Void) {
    var inner = BERWriter()
    build(&inner)
    writeTLV(tag: tag, contents: inner.bytes)
  }

  mutating func writeOctetString(_ value: [UInt8], tag: UInt8 = BERTag.octetString) {
    writeTLV(tag: tag, contents: value)
  }

  mutating func writeOctetString(_ value: String, tag: UInt8 = BERTag.octetString) {
    writeTLV(tag: tag, contents: Array(value.utf8))
  }

  mutating func writeInteger(_ value: Int64, tag: UInt8 = BERTag.integer) {
    // Two's complement, big-endian, without the leading bytes that only repeat the sign.
    var out = withUnsafeBytes(of: value.bigEndian) { Array($0) }
    while out.count > 1, (out[0] == 0x00 && out[1] & 0x80 == 0) || (out[0] == 0xFF && out[1] & 0x80 != 0) {
      out.removeFirst()
    }
    writeTLV(tag: tag, contents: out)
  }

  mutating func writeBoolean(_ value: Bool, tag: UInt8 = BERTag.boolean) {
    writeTLV(tag: tag, contents: [value ? 0xFF : 0x00])
  }

  static func appendLength(_ length: Int, to bytes: inout [UInt8]) {
    precondition(length >= 0)
    if length < 0x80 {
      bytes.append(UInt8(length))
      return
    }
    var be: [UInt8] = []
    var n = length
    while n > 0 {
      be.append(UInt8(n & 0xFF))
      n >>= 8
    }
    bytes.append(0x80 | UInt8(be.count))
    bytes.append(contentsOf: be.reversed())
  }
}

/// Reads BER elements from a byte slice; every length is checked against what is left.
struct BERReader {
  private let bytes: [UInt8]
  private(set) var position: Int
  let end: Int

  init(_ bytes: [UInt8]) {
    self.bytes = bytes
    position = 0
    end = bytes.count
  }

  private init(bytes: [UInt8], range: Range<Int>) {
    self.bytes = bytes
    position = range.lowerBound
    end = range.upperBound
  }

  var isAtEnd: Bool { position >= end }
  var remaining: Int { end - position }

  /// The tag of the next element, without consuming it.
  func peekTag() throws -> UInt8 {
    guard position < end else { throw BERError("expected an element, found the end of the data") }
    return bytes[position]
  }

  /// The header of an element at the start of `bytes`: its tag, where its contents start and how
  /// long they are. `nil` when more bytes are needed. Used by the stream framer too.
  static func header(in bytes: some Collection<UInt8>) throws -> (tag: UInt8, headerLength: Int, length: Int)? {
    var it = bytes.makeIterator()
    guard let tag = it.next() else { return nil }
    guard tag & 0x1F != 0x1F else { throw BERError("multi-byte tag numbers are not used by LDAP") }
    guard let first = it.next() else { return nil }
    if first < 0x80 { return (tag, 2, Int(first)) }
    let count = Int(first & 0x7F)
    guard count != 0 else { throw BERError("indefinite lengths are not allowed in LDAP (RFC 4511 §5.1)") }
    guard count <= 4 else { throw BERError("a length of \(count) bytes is beyond any LDAP message") }
    var length = 0
    for _ in 0..<count {
      guard let b = it.next() else { return nil }
      length = length << 8 | Int(b)
    }
    return (tag, 2 + count, length)
  }

  /// Reads the next element and returns its tag and a reader over its contents.
  mutating func readElement() throws -> (tag: UInt8, contents: BERReader) {
    guard let h = try Self.header(in: bytes[position..<end]) else {
      throw BERError("truncated element header at offset \(position)")
    }
    let start = position + h.headerLength
    guard h.length <= end - start else {
      throw BERError("element at offset \(position) claims \(h.length) bytes but only \(end - start) remain")
    }
    position = start + h.length
    return (h.tag, BERReader(bytes: bytes, range: start..<start + h.length))
  }

  /// Reads the next element, which must carry `tag`.
  mutating func read(tag: UInt8, _ what: @autoclosure () -> String) throws -> BERReader {
    let found = try peekTag()
    guard found == tag else {
      throw BERError("\(what()): expected tag 0x\(hex(tag)), found 0x\(hex(found))")
    }
    return try readElement().contents
  }

  /// Reads the next element only if it carries `tag`.
  mutating func readIfPresent(tag: UInt8) throws -> BERReader? {
    guard !isAtEnd, try peekTag() == tag else { return nil }
    return try readElement().contents
  }

  /// All the bytes of this reader's contents.
  var contentBytes: [UInt8] { Array(bytes[position..<end]) }

  mutating func readOctetString(tag: UInt8 = BERTag.octetString, _ what: @autoclosure () -> String) throws -> [UInt8] {
    try read(tag: tag, what()).contentBytes
  }

  /// An octet string that must be valid UTF-8 (DNs, attribute names, messages, URIs).
  mutating func readString(tag: UInt8 = BERTag.octetString, _ what: @autoclosure () -> String) throws -> String {
    let raw = try readOctetString(tag: tag, what())
    guard let s = String(validating: raw, as: UTF8.self) else { throw BERError("\(what()) is not valid UTF-8") }
    return s
  }

  mutating func readInteger(tag: UInt8 = BERTag.integer, _ what: @autoclosure () -> String) throws -> Int64 {
    let c = try read(tag: tag, what()).contentBytes
    guard !c.isEmpty else { throw BERError("\(what()): empty integer") }
    guard c.count <= 8 else { throw BERError("\(what()): integer of \(c.count) bytes is out of range") }
    var v: Int64 = c[0] & 0x80 != 0 ? -1 : 0
    for b in c { v = v << 8 | Int64(b) }
    return v
  }

  mutating func readBoolean(tag: UInt8 = BERTag.boolean, _ what: @autoclosure () -> String) throws -> Bool {
    let c = try read(tag: tag, what()).contentBytes
    guard c.count == 1 else { throw BERError("\(what()): a boolean has one byte, found \(c.count)") }
    return c[0] != 0
  }

  /// Fails unless every byte of this reader was consumed: trailing garbage is an error.
  func expectEnd(_ what: @autoclosure () -> String) throws {
    guard isAtEnd else { throw BERError("\(what()): \(remaining) unexpected trailing bytes") }
  }
}

func hex(_ byte: UInt8) -> String {
  let digits = Array("0123456789abcdef")
  return String([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
}

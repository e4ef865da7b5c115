/// A JSON value from a safetensors header. Objects keep their key order (the header's tensor
/// order is what a converter writes back out).
enum HeaderJSON: Equatable {
  case null
  case bool(Bool)
  /// Non-negative integers, the only numbers a header's shapes and offsets may hold.
  case integer(UInt64)
  /// Any other number (negative or fractional), kept only so that the error can name it.
  case number(Double)
  case string(String)
  case array([HeaderJSON])
  case object([(key: String, value: HeaderJSON)])

  static func == (a: HeaderJSON, b: HeaderJSON) -> Bool {
    switch (a, b) {
    case (.null, .null): return true
    case (.bool(let x), .bool(let y)): return x == y
    case (.integer(let x), .integer(let y)): return x == y
    case (.number(let x), .number(let y)): return x == y
    case (.string(let x), .string(let y)): return x == y
    case (.array(let x), .array(let y)): return x == y
    case (.object(let x), .object(let y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    default: return false
    }
  }
}

/// A strict, bounded JSON parser for safetensors headers: RFC 8259 syntax, nesting capped (a
/// header needs three levels), duplicate keys refused, every string checked as UTF-8. It works on
/// the mapped bytes and never allocates more than the header's own size.
struct HeaderJSONParser {
  static let maxDepth = 8

  private let bytes: UnsafeRawBufferPointer
  private var i = 0
  /// Where the header starts in the file, so that errors name file offsets.
  private let base: Int

  /// Parses one value followed only by whitespace (headers are padded with spaces).
  static func parse(_ bytes: UnsafeRawBufferPointer, fileOffset: Int) throws(SafeTensorsError) -> HeaderJSON {
    var p = HeaderJSONParser(bytes: bytes, base: fileOffset)
    p.skipSpace()
    guard p.peek() == UInt8(ascii: "{") else { throw p.fail("the header must be a JSON object") }
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.i == bytes.count else { throw p.fail("unexpected bytes after the header object") }
    return v
  }

  private init(bytes: UnsafeRawBufferPointer, base: Int) {
    self.bytes = bytes
    self.base = base
  }

  private func fail(_ reason: String) -> SafeTensorsError { .badHeaderJSON(reason: reason, offset: base + i) }

  private func peek() -> UInt8? { i < bytes.count ? bytes[i] : nil }

  private mutating func skipSpace() {
    while let c = peek(), c == 0x20 || c == 0x09 || c == 0x0A || c == 0x0D { i += 1 }
  }

  private mutating func expect(_ c: UInt8) throws(SafeTensorsError) {
    guard peek() == c else { throw fail("expected '\(Character(Unicode.Scalar(c)))'") }
    i += 1
  }

  private mutating func literal(_ word: String, _ v: HeaderJSON) throws(SafeTensorsError) -> HeaderJSON {
    for c in word.utf8 {
      guard peek() == c else { throw fail("invalid literal") }
      i += 1
    }
    return v
  }

  private mutating func value(depth: Int) throws(SafeTensorsError) -> HeaderJSON {
    guard depth < Self.maxDepth else { throw fail("nested deeper than \(Self.maxDepth) levels") }
    skipSpace()
    guard let c = peek() else { throw fail("unexpected end of the header") }
    switch c {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .null)
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
    default: throw fail("unexpected character")
    }
  }

  private mutating func object(depth: Int) throws(SafeTensorsError) -> HeaderJSON {
    try expect(UInt8(ascii: "{"))
    var members: [(key: String, value: HeaderJSON)] = []
    var seen = Set<String>()
    skipSpace()
    if peek() == UInt8(ascii: "}") { i += 1; return .object([]) }
    while true {
      skipSpace()
      guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string key") }
      let keyOffset = base + i
      let key = try string()
      guard seen.insert(key).inserted else { throw .duplicateKey(key: key, offset: keyOffset) }
      skipSpace()
      try expect(UInt8(ascii: ":"))
      members.append((key, try value(depth: depth + 1)))
      skipSpace()
      if peek() == UInt8(ascii: ",") { i += 1; continue }
      try expect(UInt8(ascii: "}"))
      return .object(members)
    }
  }

  private mutating func array(depth: Int) throws(SafeTensorsError) -> HeaderJSON {
    try expect(UInt8(ascii: "["))
    var items: [HeaderJSON] = []
    skipSpace()
    if peek() == UInt8(ascii: "]") { i += 1; return .array([]) }
    while true {
      items.append(try value(depth: depth + 1))
      skipSpace()
      if peek() == UInt8(ascii: ",") { i += 1; continue }
      try expect(UInt8(ascii: "]"))
      return .array(items)
    }
  }

  private mutating func string() throws(SafeTensorsError) -> String {
    try expect(UInt8(ascii: "\""))
    var out: [UInt8] = []
    while true {
      guard let c = peek() else { throw fail("unterminated string") }
      i += 1
      switch c {
      case UInt8(ascii: "\""):
        guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
      case UInt8(ascii: "\\"):
        try escape(into: &out)
      case 0..<0x20:
        throw fail("control character in a string")
      default:
        out.append(c)
      }
    }
  }

  private mutating func escape(into out: inout [UInt8]) throws(SafeTensorsError) {
    guard let e = peek() else { throw fail("unterminated escape") }
    i += 1
    switch e {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
    case UInt8(ascii: "b"): out.append(0x08)
    case UInt8(ascii: "f"): out.append(0x0C)
    case UInt8(ascii: "n"): out.append(0x0A)
    case UInt8(ascii: "r"): out.append(0x0D)
    case UInt8(ascii: "t"): out.append(0x09)
    case UInt8(ascii: "u"):
      var scalar = try hex4()
      if (0xD800..<0xDC00).contains(scalar) {
        // A high surrogate must be followed by an escaped low one.
        guard peek() == UInt8(ascii: "\\") else { throw fail("unpaired surrogate") }
        i += 1
        guard peek() == UInt8(ascii: "u") else { throw fail("unpaired surrogate") }
        i += 1
        let low = try hex4()
        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
      }
      guard let u = Unicode.Scalar(scalar) else { throw fail("unpaired surrogate") }
      out.append(contentsOf: Array(String(Character(u)).utf8))
    default:
      throw fail("invalid escape")
    }
  }

  private mutating func hex4() throws(SafeTensorsError) -> UInt32 {
    var v: UInt32 = 0
    for _ in 0..<4 {
      guard let c = peek() else { throw fail("truncated \\u escape") }
      let d: UInt32
      switch c {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
      case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
      case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
      default: throw fail("invalid \\u escape")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  /// Integers are read exactly into UInt64 (overflow refused); anything else becomes a Double.
  private mutating func number() throws(SafeTensorsError) -> HeaderJSON {
    let start = i
    let negative = peek() == UInt8(ascii: "-")
    if negative { i += 1 }
    guard let first = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(first) else { throw fail("invalid number") }
    var value: UInt64 = 0
    var overflow = false
    if first == UInt8(ascii: "0") {
      i += 1
    } else {
      while let c = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) {
        let (m, o1) = value.multipliedReportingOverflow(by: 10)
        let (a, o2) = m.addingReportingOverflow(UInt64(c - UInt8(ascii: "0")))
        overflow = overflow || o1 || o2
        value = a
        i += 1
      }
    }
    var fractional = false
    if peek() == UInt8(ascii: ".") {
      fractional = true
      i += 1
      try digits()
    }
    if let e = peek(), e == UInt8(ascii: "e") || e == UInt8(ascii: "E") {
      fractional = true
      i += 1
      if let s = peek(), s == UInt8(ascii: "+") || s == UInt8(ascii: "-") { i += 1 }
      try digits()
    }
    if !negative && !fractional {
      guard !overflow else { throw .badHeaderJSON(reason: "integer does not fit in 64 bits", offset: base + start) }
      return .integer(value)
    }
    let text = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
    return .number(Double(text) ?? .nan)
  }

  private mutating func digits() throws(SafeTensorsError) {
    guard let c = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) else { throw fail("invalid number") }
    while let c = peek(), (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(c) { i += 1 }
  }
}

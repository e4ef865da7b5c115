/// A JSON value as a schema needs it: object members stay in document order (properties are
/// emitted in schema order) and numbers keep their source text (an `enum` or `const` value is
/// emitted exactly as the schema spells it). Engine cannot use ServingAPI's JSON type, which sits
/// above it, so this small strict parser reads the schema text itself.
indirect enum SchemaValue: Sendable {
  case null
  case bool(Bool)
  case number(String)
  case string(String)
  case array([SchemaValue])
  case object([(key: String, value: SchemaValue)])

  subscript(key: String) -> SchemaValue? {
    guard case .object(let members) = self else { return nil }
    return members.first(where: { $0.key == key })?.value
  }

  var typeName: String {
    switch self {
    case .null: return "null"
    case .bool: return "boolean"
    case .number(let t): return t.contains(where: { $0 == "." || $0 == "e" || $0 == "E" }) ? "number" : "integer"
    case .string: return "string"
    case .array: return "array"
    case .object: return "object"
    }
  }

  /// Compact JSON bytes: the exact text a constrained model must produce for this value.
  var serialized: [UInt8] {
    var out: [UInt8] = []
    write(to: &out)
    return out
  }

  func write(to out: inout [UInt8]) {
    switch self {
    case .null: out += Array("null".utf8)
    case .bool(let b): out += Array((b ? "true" : "false").utf8)
    case .number(let t): out += Array(t.utf8)
    case .string(let s): out += Self.quoted(s)
    case .array(let items):
      out.append(UInt8(ascii: "["))
      for (i, v) in items.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        v.write(to: &out)
      }
      out.append(UInt8(ascii: "]"))
    case .object(let members):
      out.append(UInt8(ascii: "{"))
      for (i, m) in members.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        out += Self.quoted(m.key)
        out.append(UInt8(ascii: ":"))
        m.value.write(to: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
  }

  /// The one escaped spelling of a string the constraint accepts for a fixed name or value:
  /// short escapes where JSON has them, \u00XX for other control characters, raw UTF-8 otherwise.
  static func quoted(_ s: String) -> [UInt8] {
    var out: [UInt8] = [UInt8(ascii: "\"")]
    let hex = Array("0123456789abcdef".utf8)
    for b in s.utf8 {
      switch b {
      case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), b]
      case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
      case 0x0A: out += Array("\\n".utf8)
      case 0x0D: out += Array("\\r".utf8)
      case 0x09: out += Array("\\t".utf8)
      case 0x08: out += Array("\\b".utf8)
      case 0x0C: out += Array("\\f".utf8)
      case 0..<0x20: out += Array("\\u00".utf8) + [hex[Int(b >> 4)], hex[Int(b & 15)]]
      default: out.append(b)
      }
    }
    out.append(UInt8(ascii: "\""))
    return out
  }

  /// Parses RFC 8259 JSON. Nesting is bounded so a hostile schema cannot exhaust the stack, and
  /// duplicate keys are refused rather than silently resolved.
  static func parse(_ text: String, maxDepth: Int = 64) throws(JSONSchemaError) -> SchemaValue {
    var p = Parser(bytes: Array(text.utf8), maxDepth: maxDepth)
    p.skipSpace()
    let v = try p.value(depth: 0)
    p.skipSpace()
    guard p.i == p.bytes.count else { throw p.error("unexpected text after the schema") }
    return v
  }

  private struct Parser {
    let bytes: [UInt8]
    let maxDepth: Int
    var i = 0

    init(bytes: [UInt8], maxDepth: Int) {
      self.bytes = bytes
      self.maxDepth = maxDepth
    }

    func error(_ message: String) -> JSONSchemaError { .invalidJSON("\(message) at byte \(i)") }

    mutating func skipSpace() {
      while i < bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[i]) { i += 1 }
    }

    mutating func literal(_ word: String, _ v: SchemaValue) throws(JSONSchemaError) -> SchemaValue {
      let w = Array(word.utf8)
      guard i + w.count <= bytes.count, Array(bytes[i..<i + w.count]) == w else { throw error("invalid literal") }
      i += w.count
      return v
    }

    mutating func value(depth: Int) throws(JSONSchemaError) -> SchemaValue {
      guard depth <= maxDepth else { throw error("nesting deeper than \(maxDepth)") }
      guard i < bytes.count else { throw error("unexpected end") }
      switch bytes[i] {
      case UInt8(ascii: "n"): return try literal("null", .null)
      case UInt8(ascii: "t"): return try literal("true", .bool(true))
      case UInt8(ascii: "f"): return try literal("false", .bool(false))
      case UInt8(ascii: "\""): return .string(try string())
      case UInt8(ascii: "["):
        i += 1
        var items: [SchemaValue] = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(items) }
        while true {
          skipSpace()
          items.append(try value(depth: depth + 1))
          skipSpace()
          guard i < bytes.count else { throw error("unterminated array") }
          if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
          guard bytes[i] == UInt8(ascii: "]") else { throw error("expected ',' or ']'") }
          i += 1
          return .array(items)
        }
      case UInt8(ascii: "{"):
        i += 1
        var members: [(key: String, value: SchemaValue)] = []
        var seen: Set<String> = []
        skipSpace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
        while true {
          skipSpace()
          guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw error("expected a key") }
          let key = try string()
          guard seen.insert(key).inserted else { throw error("duplicate key '\(key)'") }
          skipSpace()
          guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw error("expected ':'") }
          i += 1
          skipSpace()
          members.append((key, try value(depth: depth + 1)))
          skipSpace()
          guard i < bytes.count else { throw error("unterminated object") }
          if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
          guard bytes[i] == UInt8(ascii: "}") else { throw error("expected ',' or '}'") }
          i += 1
          return .object(members)
        }
      default: return .number(try number())
      }
    }

    mutating func digits() -> Int {
      let start = i
      while i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 { i += 1 }
      return i - start
    }

    mutating func number() throws(JSONSchemaError) -> String {
      let start = i
      if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
      guard i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 else { throw error("invalid value") }
      if bytes[i] == UInt8(ascii: "0") { i += 1 } else { _ = digits() }
      if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
        i += 1
        guard digits() > 0 else { throw error("invalid number") }
      }
      if i < bytes.count, bytes[i] | 0x20 == UInt8(ascii: "e") {
        i += 1
        if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard digits() > 0 else { throw error("invalid number") }
      }
      return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    mutating func hex4() throws(JSONSchemaError) -> UInt32 {
      guard i + 4 <= bytes.count else { throw error("short \\u escape") }
      var v: UInt32 = 0
      for _ in 0..<4 {
        let c = bytes[i]
        let d: UInt8
        switch c {
        case 0x30...0x39: d = c - 0x30
        case 0x61...0x66: d = c - 0x61 + 10
        case 0x41...0x46: d = c - 0x41 + 10
        default: throw error("invalid \\u escape")
        }
        v = v << 4 | UInt32(d)
        i += 1
      }
      return v
    }

    mutating func string() throws(JSONSchemaError) -> String {
      i += 1  // the opening quote
      var out: [UInt8] = []
      while true {
        guard i < bytes.count else { throw error("unterminated string") }
        let c = bytes[i]
        i += 1
        switch c {
        case UInt8(ascii: "\""):
          // Validating decode: a schema with broken UTF-8 is refused, not repaired.
          guard let s = String(validating: out, as: UTF8.self) else { throw error("invalid UTF-8 in a string") }
          return s
        case UInt8(ascii: "\\"):
          guard i < bytes.count else { throw error("unterminated string") }
          let e = bytes[i]
          i += 1
          switch e {
          case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
          case UInt8(ascii: "b"): out.append(0x08)
          case UInt8(ascii: "f"): out.append(0x0C)
          case UInt8(ascii: "n"): out.append(0x0A)
          case UInt8(ascii: "r"): out.append(0x0D)
          case UInt8(ascii: "t"): out.append(0x09)
          case UInt8(ascii: "u"):
            var v = try hex4()
            if (0xD800..<0xDC00).contains(v) {
              guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                throw error("unpaired surrogate")
              }
              i += 2
              let low = try hex4()
              guard (0xDC00..<0xE000).contains(low) else { throw error("unpaired surrogate") }
              v = 0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(v) {
              throw error("unpaired surrogate")
            }
            out += Array(String(Character(Unicode.Scalar(v)!)).utf8)
          default: throw error("invalid escape")
          }
        case 0..<0x20: throw error("control character in a string")
        default: out.append(c)
        }
      }
    }
  }
}

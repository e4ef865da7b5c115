/// A small strict JSON parser over bytes: exact control of depth, duplicate keys and error
/// messages, and the same behaviour on every platform.
struct JSONParser {
  let bytes: [UInt8]
  let maxDepth: Int
  var i = 0

  init(bytes: [UInt8], maxDepth: Int) {
    self.bytes = bytes
    self.maxDepth = maxDepth
  }

  mutating func parseDocument() throws(APIError) -> JSON {
    skipSpace()
    let v = try value(depth: 0)
    skipSpace()
    guard i == bytes.count else { throw err("unexpected data after the JSON value") }
    return v
  }

  private func err(_ m: String) -> APIError { .badJSON("\(m) at byte \(i)") }

  private mutating func skipSpace() {
    while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
  }

  private mutating func value(depth: Int) throws(APIError) -> JSON {
    guard depth <= maxDepth else { throw err("nested deeper than \(maxDepth) levels") }
    guard i < bytes.count else { throw err("unexpected end of input") }
    switch bytes[i] {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): try literal("true"); return .bool(true)
    case UInt8(ascii: "f"): try literal("false"); return .bool(false)
    case UInt8(ascii: "n"): try literal("null"); return .null
    default: return .number(try number())
    }
  }

  private mutating func literal(_ word: String) throws(APIError) {
    let w = Array(word.utf8)
    guard i + w.count <= bytes.count, Array(bytes[i..<(i + w.count)]) == w else { throw err("invalid literal") }
    i += w.count
  }

  private mutating func object(depth: Int) throws(APIError) -> JSON {
    i += 1
    var dict: [String: JSON] = [:]
    var keys: [String] = []
    skipSpace()
    if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(dict, keys: keys) }
    while true {
      skipSpace()
      guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw err("expected a string key") }
      let k = try string()
      guard dict[k] == nil else { throw err("duplicate key '\(k)'") }
      skipSpace()
      guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw err("expected ':'") }
      i += 1
      skipSpace()
      dict[k] = try value(depth: depth + 1)
      keys.append(k)
      skipSpace()
      guard i < bytes.count else { throw err("unexpected end of input") }
      if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
      if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(dict, keys: keys) }
      throw err("expected ',' or '}'")
    }
  }

  private mutating func array(depth: Int) throws(APIError) -> JSON {
    i += 1
    var out: [JSON] = []
    skipSpace()
    if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
    while true {
      skipSpace()
      out.append(try value(depth: depth + 1))
      skipSpace()
      guard i < bytes.count else { throw err("unexpected end of input") }
      if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
      if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(out) }
      throw err("expected ',' or ']'")
    }
  }

  private mutating func hex4() throws(APIError) -> UInt32 {
    guard i + 4 <= bytes.count else { throw err("truncated \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      let c = bytes[i]
      let d: UInt32
      switch c {
      case 0x30...0x39: d = UInt32(c - 0x30)
      case 0x41...0x46: d = UInt32(c - 0x41 + 10)
      case 0x61...0x66: d = UInt32(c - 0x61 + 10)
      default: throw err("bad \\u escape")
      }
      v = v << 4 | d
      i += 1
    }
    return v
  }

  private mutating func string() throws(APIError) -> String {
    i += 1
    var out: [UInt8] = []
    while true {
      guard i < bytes.count else { throw err("unterminated string") }
      let c = bytes[i]
      if c == UInt8(ascii: "\"") { i += 1; break }
      if c < 0x20 { throw err("control character in string") }
      if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
      i += 1
      guard i < bytes.count else { throw err("unterminated escape") }
      let e = bytes[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""): out.append(0x22)
      case UInt8(ascii: "\\"): out.append(0x5C)
      case UInt8(ascii: "/"): out.append(0x2F)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "u"):
        var cp = try hex4()
        if (0xD800..<0xDC00).contains(cp) {
          guard i + 2 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else { throw err("lone surrogate") }
          i += 2
          let lo = try hex4()
          guard (0xDC00..<0xE000).contains(lo) else { throw err("bad surrogate pair") }
          cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00)
        } else if (0xDC00..<0xE000).contains(cp) {
          throw err("lone surrogate")
        }
        out.append(contentsOf: Array(String(Unicode.Scalar(cp)!).utf8))
      default: throw err("bad escape")
      }
    }
    guard let s = String(validating: out, as: UTF8.self) else { throw err("string is not valid UTF-8") }
    return s
  }

  private mutating func number() throws(APIError) -> Double {
    let start = i
    if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
    var digits = 0
    while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1; digits += 1 }
    guard digits > 0 else { throw err("unexpected character") }
    if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
      i += 1
      var frac = 0
      while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1; frac += 1 }
      guard frac > 0 else { throw err("bad number") }
    }
    if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
      i += 1
      if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
      var exp = 0
      while i < bytes.count, (0x30...0x39).contains(bytes[i]) { i += 1; exp += 1 }
      guard exp > 0 else { throw err("bad number") }
    }
    guard let d = Double(String(decoding: bytes[start..<i], as: UTF8.self)) else { throw err("bad number") }
    return d
  }
}

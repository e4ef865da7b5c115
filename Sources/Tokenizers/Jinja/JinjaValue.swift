import Foundation

/// Data handed to a template: JSON's types, with object keys kept in insertion order (templates
/// iterate dicts and `tojson` prints them, so order is visible in the output).
public enum JinjaValue: Sendable, Equatable, CustomStringConvertible {
  case null
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case array([JinjaValue])
  case object(JinjaObject)

  public static func object(_ pairs: KeyValuePairs<String, JinjaValue>) -> JinjaValue {
    .object(JinjaObject(pairs.map { ($0.key, $0.value) }))
  }

  /// From Foundation/JSONSerialization-style values (`[String: Any]`, `[Any]`, `NSNumber`, ...).
  /// Dictionary keys are sorted, since `[String: Any]` has no order; use `init(json:)` to keep it.
  public init?(any value: Any?) {
    guard let value else { self = .null; return }
    if let n = value as? NSNumber, type(of: value) is NSNumber.Type {
      // JSONSerialization numbers: the Objective-C type code tells bools and floats apart.
      switch String(cString: n.objCType) {
      case "c", "B": self = .bool(n.boolValue)
      case "f", "d": self = .double(n.doubleValue)
      default: self = .int(n.intValue)
      }
      return
    }
    switch value {
    case is NSNull: self = .null
    case let v as JinjaValue: self = v
    case let s as String: self = .string(s)
    case let b as Bool: self = .bool(b)
    case let i as Int: self = .int(i)
    case let d as Double: self = .double(d)
    case let f as Float: self = .double(Double(f))
    case let a as [Any]:
      var out: [JinjaValue] = []
      for e in a {
        guard let v = JinjaValue(any: e) else { return nil }
        out.append(v)
      }
      self = .array(out)
    case let d as [String: Any]:
      var pairs: [(String, JinjaValue)] = []
      for k in d.keys.sorted() {
        guard let v = JinjaValue(any: d[k]) else { return nil }
        pairs.append((k, v))
      }
      self = .object(JinjaObject(pairs))
    default: return nil
    }
  }

  /// Parses JSON text, keeping object key order.
  public init(json: String) throws(JinjaError) {
    var p = JSONScanner(Array(json.utf8))
    self = try p.document()
  }

  public var description: String { JSONWriter.write(self, indent: nil, sortKeys: false) }

  public subscript(key: String) -> JinjaValue? {
    if case .object(let o) = self { return o[key] }
    return nil
  }
}

/// An insertion-ordered string-keyed map.
public struct JinjaObject: Sendable, Equatable {
  public private(set) var keys: [String] = []
  private var storage: [String: JinjaValue] = [:]

  public init() {}

  public init(_ pairs: [(String, JinjaValue)]) {
    for (k, v) in pairs { self[k] = v }
  }

  public var count: Int { keys.count }
  public var pairs: [(String, JinjaValue)] { keys.map { ($0, storage[$0]!) } }

  public subscript(key: String) -> JinjaValue? {
    get { storage[key] }
    set {
      if let newValue {
        if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
      } else if storage.removeValue(forKey: key) != nil {
        keys.removeAll { $0 == key }
      }
    }
  }

  /// Python dict equality: same keys and values, order aside.
  public static func == (a: JinjaObject, b: JinjaObject) -> Bool { a.storage == b.storage }
}

/// A small strict JSON reader (RFC 8259) that keeps object order; depth-bounded.
struct JSONScanner {
  private let b: [UInt8]
  private var i = 0
  private var depth = 0

  init(_ bytes: [UInt8]) { b = bytes }

  mutating func document() throws(JinjaError) -> JinjaValue {
    let v = try value()
    skipSpace()
    guard i == b.count else { throw fail("trailing characters") }
    return v
  }

  private func fail(_ what: String) -> JinjaError { .invalidJSON("\(what) at byte \(i)") }

  private mutating func skipSpace() {
    while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
  }

  private mutating func value() throws(JinjaError) -> JinjaValue {
    skipSpace()
    guard i < b.count else { throw fail("unexpected end") }
    switch b[i] {
    case UInt8(ascii: "{"):
      depth += 1
      defer { depth -= 1 }
      guard depth <= 512 else { throw fail("nesting too deep") }
      i += 1
      var obj = JinjaObject()
      skipSpace()
      if i < b.count, b[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
      while true {
        skipSpace()
        guard i < b.count, b[i] == UInt8(ascii: "\"") else { throw fail("expected a key") }
        let k = try string()
        skipSpace()
        guard i < b.count, b[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
        i += 1
        obj[k] = try value()
        skipSpace()
        guard i < b.count else { throw fail("unexpected end") }
        if b[i] == UInt8(ascii: ",") { i += 1; continue }
        if b[i] == UInt8(ascii: "}") { i += 1; return .object(obj) }
        throw fail("expected ',' or '}'")
      }
    case UInt8(ascii: "["):
      depth += 1
      defer { depth -= 1 }
      guard depth <= 512 else { throw fail("nesting too deep") }
      i += 1
      var arr: [JinjaValue] = []
      skipSpace()
      if i < b.count, b[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
      while true {
        arr.append(try value())
        skipSpace()
        guard i < b.count else { throw fail("unexpected end") }
        if b[i] == UInt8(ascii: ",") { i += 1; continue }
        if b[i] == UInt8(ascii: "]") { i += 1; return .array(arr) }
        throw fail("expected ',' or ']'")
      }
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"): return try literal("true", .bool(true))
    case UInt8(ascii: "f"): return try literal("false", .bool(false))
    case UInt8(ascii: "n"): return try literal("null", .null)
    default: return try number()
    }
  }

  private mutating func literal(_ word: String, _ v: JinjaValue) throws(JinjaError) -> JinjaValue {
    let w = Array(word.utf8)
    guard i + w.count <= b.count, Array(b[i..<(i + w.count)]) == w else { throw fail("invalid literal") }
    i += w.count
    return v
  }

  private mutating func number() throws(JinjaError) -> JinjaValue {
    let start = i
    var isFloat = false
    if i < b.count, b[i] == UInt8(ascii: "-") { i += 1 }
    while i < b.count {
      let c = b[i]
      if c >= 0x30 && c <= 0x39 {
        i += 1
      } else if c == UInt8(ascii: ".") || c == UInt8(ascii: "e") || c == UInt8(ascii: "E") || c == UInt8(ascii: "+") || c == UInt8(ascii: "-") {
        isFloat = true
        i += 1
      } else {
        break
      }
    }
    let text = String(decoding: b[start..<i], as: UTF8.self)
    if !isFloat, let v = Int(text) { return .int(v) }
    guard !text.isEmpty, text != "-", let d = Double(text) else { throw fail("invalid number") }
    return .double(d)
  }

  private mutating func hex4() throws(JinjaError) -> UInt32 {
    guard i + 4 <= b.count else { throw fail("bad \\u escape") }
    var v: UInt32 = 0
    for _ in 0..<4 {
      guard let h = hexValue(b[i]) else { throw fail("bad \\u escape") }
      v = v << 4 | UInt32(h)
      i += 1
    }
    return v
  }

  private mutating func string() throws(JinjaError) -> String {
    i += 1
    var out: [UInt8] = []
    while true {
      guard i < b.count else { throw fail("unterminated string") }
      let c = b[i]
      i += 1
      if c == UInt8(ascii: "\"") { break }
      if c < 0x20 { throw fail("control character in string") }
      guard c == UInt8(ascii: "\\") else { out.append(c); continue }
      guard i < b.count else { throw fail("unterminated escape") }
      let e = b[i]
      i += 1
      switch e {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
      case UInt8(ascii: "n"): out.append(0x0A)
      case UInt8(ascii: "t"): out.append(0x09)
      case UInt8(ascii: "r"): out.append(0x0D)
      case UInt8(ascii: "b"): out.append(0x08)
      case UInt8(ascii: "f"): out.append(0x0C)
      case UInt8(ascii: "u"):
        var cp = try hex4()
        if cp >= 0xD800 && cp < 0xDC00, i + 1 < b.count, b[i] == UInt8(ascii: "\\"), b[i + 1] == UInt8(ascii: "u") {
          i += 2
          let lo = try hex4()
          cp = lo >= 0xDC00 && lo < 0xE000 ? 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00) : 0xFFFD
        }
        let scalar = Unicode.Scalar(cp) ?? "\u{FFFD}"
        out.append(contentsOf: Array(String(scalar).utf8))
      default: throw fail("bad escape")
      }
    }
    return String(decoding: out, as: UTF8.self)
  }
}

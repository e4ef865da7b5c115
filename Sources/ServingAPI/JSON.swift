import Foundation

/// A parsed JSON value. Requests are read through it rather than through Codable models so
/// that every wrong type or range names its field in the error (`temperature`, `messages[2].role`).
public enum JSON: Sendable, Equatable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSON])
  case object([String: JSON], keys: [String])

  /// Parses `data` (RFC 8259). The nesting depth is bounded so a hostile body cannot exhaust
  /// the stack; duplicate keys are refused rather than silently resolved.
  public static func parse(_ data: Data, maxDepth: Int = 64) throws(APIError) -> JSON {
    var p = JSONParser(bytes: [UInt8](data), maxDepth: maxDepth)
    return try p.parseDocument()
  }

  public subscript(key: String) -> JSON? {
    if case .object(let d, _) = self { return d[key] } else { return nil }
  }

  public var isNull: Bool { self == .null }

  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  public var number: Double? { if case .number(let n) = self { return n } else { return nil } }
  public var array: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
  public var object: [String: JSON]? { if case .object(let o, _) = self { return o } else { return nil } }

  /// An integral number as Int.
  public var int: Int? {
    guard case .number(let n) = self, n.rounded() == n, abs(n) < 9.0e15 else { return nil }
    return Int(n)
  }

  /// Serializes back to compact JSON, keys in their original order.
  public var text: String {
    switch self {
    case .null: return "null"
    case .bool(let b): return b ? "true" : "false"
    case .number(let n):
      if n.rounded() == n, abs(n) < 1e15 { return String(Int(n)) }
      return "\(n)"
    case .string(let s): return JSON.quote(s)
    case .array(let a): return "[" + a.map(\.text).joined(separator: ",") + "]"
    case .object(let d, let keys): return "{" + keys.map { JSON.quote($0) + ":" + d[$0]!.text }.joined(separator: ",") + "}"
    }
  }

  static func quote(_ s: String) -> String {
    var out = "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where u.value < 0x20: out += String(format: "\\u%04x", u.value)
      default: out.unicodeScalars.append(u)
      }
    }
    return out + "\""
  }
}

/// Reads typed fields out of a JSON object, with errors that name the field (and its path).
public struct FieldReader {
  public let object: [String: JSON]
  public let path: String

  public init(_ json: JSON, path: String = "") throws(APIError) {
    guard case .object(let o, _) = json else {
      throw .invalid(path.isEmpty ? "body" : path, "\(path.isEmpty ? "the request body" : "'\(path)'") must be a JSON object")
    }
    object = o
    self.path = path
  }

  public func name(_ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

  public func has(_ key: String) -> Bool { if let v = object[key], !v.isNull { return true } else { return false } }

  public func string(_ key: String) throws(APIError) -> String? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let s = v.string else { throw .invalid(name(key), "'\(name(key))' must be a string") }
    return s
  }

  public func requireString(_ key: String) throws(APIError) -> String {
    guard let s = try string(key) else { throw .missing(name(key)) }
    return s
  }

  public func bool(_ key: String) throws(APIError) -> Bool? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let b = v.bool else { throw .invalid(name(key), "'\(name(key))' must be a boolean") }
    return b
  }

  public func number(_ key: String, in range: ClosedRange<Double>? = nil) throws(APIError) -> Double? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let n = v.number, n.isFinite else { throw .invalid(name(key), "'\(name(key))' must be a number") }
    if let range, !range.contains(n) {
      throw .invalid(name(key), "'\(name(key))' must be between \(fmt(range.lowerBound)) and \(fmt(range.upperBound)), got \(fmt(n))")
    }
    return n
  }

  public func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(APIError) -> Int? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let n = v.int else { throw .invalid(name(key), "'\(name(key))' must be an integer") }
    if let range, !range.contains(n) {
      throw .invalid(name(key), "'\(name(key))' must be between \(range.lowerBound) and \(range.upperBound), got \(n)")
    }
    return n
  }

  public func array(_ key: String) throws(APIError) -> [JSON]? {
    guard let v = object[key], !v.isNull else { return nil }
    guard let a = v.array else { throw .invalid(name(key), "'\(name(key))' must be an array") }
    return a
  }

  public func object(_ key: String) throws(APIError) -> FieldReader? {
    guard let v = object[key], !v.isNull else { return nil }
    return try FieldReader(v, path: name(key))
  }

  private func fmt(_ x: Double) -> String { x.rounded() == x && abs(x) < 1e15 ? String(Int(x)) : "\(x)" }
}

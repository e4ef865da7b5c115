import Foundation

/// A value while rendering: the data types plus what only exists inside a template (undefined,
/// namespaces, macros and bound methods). Semantics follow Python/Jinja2: truthiness, `str()`,
/// equality across int/float, insertion-ordered dicts.
enum Value {
  case undefined(String)
  case none
  case bool(Bool)
  case int(Int)
  case double(Double)
  case string(String)
  case array([Value])
  case object(VDict)
  case namespace(Namespace)
  case callable(Callable)

  init(_ v: JinjaValue) {
    switch v {
    case .null: self = .none
    case .bool(let b): self = .bool(b)
    case .int(let i): self = .int(i)
    case .double(let d): self = .double(d)
    case .string(let s): self = .string(s)
    case .array(let a): self = .array(a.map(Value.init))
    case .object(let o): self = .object(VDict(o.pairs.map { ($0.0, Value($0.1)) }))
    }
  }

  var isUndefined: Bool { if case .undefined = self { return true } else { return false } }
  var isNone: Bool { if case .none = self { return true } else { return false } }

  var truthy: Bool {
    switch self {
    case .undefined, .none: return false
    case .bool(let b): return b
    case .int(let i): return i != 0
    case .double(let d): return d != 0
    case .string(let s): return !s.isEmpty
    case .array(let a): return !a.isEmpty
    case .object(let o): return o.count > 0
    case .namespace, .callable: return true
    }
  }

  var typeName: String {
    switch self {
    case .undefined: return "undefined"
    case .none: return "NoneType"
    case .bool: return "bool"
    case .int: return "int"
    case .double: return "float"
    case .string: return "str"
    case .array: return "list"
    case .object: return "dict"
    case .namespace: return "Namespace"
    case .callable: return "function"
    }
  }

  var number: Double? {
    switch self {
    case .int(let i): return Double(i)
    case .double(let d): return d
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }

  /// Python's `str(x)`; undefined prints as nothing.
  var str: String {
    switch self {
    case .undefined: return ""
    case .string(let s): return s
    default: return repr
    }
  }

  /// Python's `repr(x)` (how lists and dicts print).
  var repr: String {
    switch self {
    case .undefined: return ""
    case .none: return "None"
    case .bool(let b): return b ? "True" : "False"
    case .int(let i): return String(i)
    case .double(let d): return pythonFloat(d)
    case .string(let s): return pythonStringRepr(s)
    case .array(let a): return "[" + a.map(\.repr).joined(separator: ", ") + "]"
    case .object(let o): return "{" + o.pairs.map { pythonStringRepr($0.0) + ": " + $0.1.repr }.joined(separator: ", ") + "}"
    case .namespace(let n): return "<Namespace " + n.dict.pairs.map { "\($0.0)=\($0.1.repr)" }.joined(separator: ", ") + ">"
    case .callable(let c): return "<function \(c.name)>"
    }
  }

  /// Elements when iterated (dicts give keys, strings characters).
  func iterate(_ what: String) throws(JinjaError) -> [Value] {
    switch self {
    case .undefined: return []
    case .array(let a): return a
    case .object(let o): return o.keys.map { .string($0) }
    case .string(let s): return s.unicodeScalars.map { .string(String($0)) }
    case .namespace(let n): return n.dict.keys.map { .string($0) }
    default: throw JinjaError.typeError("'\(typeName)' object is not iterable (\(what))")
    }
  }

  func toJinja() throws(JinjaError) -> JinjaValue {
    switch self {
    case .none: return .null
    case .bool(let b): return .bool(b)
    case .int(let i): return .int(i)
    case .double(let d): return .double(d)
    case .string(let s): return .string(s)
    case .array(let a):
      var out: [JinjaValue] = []
      for v in a { out.append(try v.toJinja()) }
      return .array(out)
    case .object(let o):
      var out = JinjaObject()
      for (k, v) in o.pairs { out[k] = try v.toJinja() }
      return .object(out)
    case .namespace(let n): return try Value.object(n.dict).toJinja()
    case .undefined(let name): throw JinjaError.undefined("'\(name)' is undefined")
    case .callable(let c): throw JinjaError.typeError("function \(c.name) is not JSON serializable")
    }
  }
}

/// Insertion-ordered dict of template values.
struct VDict {
  private(set) var keys: [String] = []
  private var storage: [String: Value] = [:]

  init(_ pairs: [(String, Value)] = []) {
    for (k, v) in pairs { self[k] = v }
  }

  var count: Int { keys.count }
  var pairs: [(String, Value)] { keys.map { ($0, storage[$0]!) } }

  subscript(key: String) -> Value? {
    get { storage[key] }
    set {
      guard let newValue else { return }
      if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
    }
  }
}

/// `namespace()`: the one mutable object templates get, for state that outlives a loop body.
final class Namespace {
  var dict: VDict
  init(_ d: VDict) { dict = d }
}

/// Arguments of a call: positional then keyword.
struct Arguments {
  var positional: [Value]
  var keyword: [(String, Value)]

  /// Argument `name`, at `position` or given by keyword.
  func get(_ position: Int, _ name: String) -> Value? {
    if let kw = keyword.first(where: { $0.0 == name }) { return kw.1 }
    return position < positional.count ? positional[position] : nil
  }
}

/// A macro, a global function, or a method bound to its receiver.
struct Callable {
  let name: String
  let call: (Arguments) throws(JinjaError) -> Value
}

// MARK: - Python semantics

/// Python `==` (numbers compare across int/float/bool; dicts ignore order).
func pyEqual(_ a: Value, _ b: Value) -> Bool {
  switch (a, b) {
  case (.undefined, .undefined), (.none, .none): return true
  case (.string(let x), .string(let y)): return x == y
  case (.array(let x), .array(let y)): return x.count == y.count && zip(x, y).allSatisfy { pyEqual($0, $1) }
  case (.object(let x), .object(let y)):
    return x.count == y.count && x.pairs.allSatisfy { k, v in y[k].map { pyEqual(v, $0) } ?? false }
  case (.namespace(let x), .namespace(let y)): return x === y
  default:
    if let x = a.number, let y = b.number, a.isNumeric, b.isNumeric { return x == y }
    return false
  }
}

extension Value {
  var isNumeric: Bool {
    switch self {
    case .int, .double, .bool: return true
    default: return false
    }
  }
}

/// Python ordering for `<`, `sort`, `min`, `max`: numbers with numbers, strings by code point,
/// lists element-wise; anything else is a TypeError.
func pyLess(_ a: Value, _ b: Value) throws(JinjaError) -> Bool {
  switch (a, b) {
  case (.string(let x), .string(let y)):
    return x.unicodeScalars.lexicographicallyPrecedes(y.unicodeScalars)
  case (.array(let x), .array(let y)):
    for (p, q) in zip(x, y) where !pyEqual(p, q) { return try pyLess(p, q) }
    return x.count < y.count
  default:
    if a.isNumeric, b.isNumeric, let x = a.number, let y = b.number {
      if case .int(let p) = a, case .int(let q) = b { return p < q }
      return x < y
    }
    throw JinjaError.typeError("'<' not supported between '\(a.typeName)' and '\(b.typeName)'")
  }
}

/// Python's float `repr`: shortest round-trip digits, fixed notation for 1e-4 <= |d| < 1e16.
func pythonFloat(_ d: Double) -> String {
  if d.isNaN { return "nan" }
  if d.isInfinite { return d < 0 ? "-inf" : "inf" }
  let s = "\(d)"  // Swift also prints the shortest round-trip digits
  let mag = abs(d)
  guard let e = s.firstIndex(of: "e") else { return s.contains(".") ? s : s + ".0" }
  if mag >= 1e16 || mag < 1e-4 {
    // Python: mantissa without a trailing ".0", exponent signed and at least two digits.
    var mantissa = String(s[..<e])
    if mantissa.hasSuffix(".0") { mantissa.removeLast(2) }
    var exp = String(s[s.index(after: e)...])
    let sign = exp.hasPrefix("-") ? "-" : "+"
    if exp.hasPrefix("-") || exp.hasPrefix("+") { exp.removeFirst() }
    return mantissa + "e" + sign + (exp.count < 2 ? "0" + exp : exp)
  }
  // Swift switches to exponents from 2^53 on; Python only from 1e16. Expand the same digits.
  let fixed = Decimal(string: s).map { "\($0)" } ?? s
  return fixed.contains(".") ? fixed : fixed + ".0"
}

/// Python's `repr(str)`: single quotes unless the text has one and no double quote.
func pythonStringRepr(_ s: String) -> String {
  let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
  var out = String(quote)
  for u in s.unicodeScalars {
    switch u {
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    default:
      if Character(u) == quote {
        out += "\\" + String(quote)
      } else if u.value < 0x20 || u.value == 0x7F {
        out += String(format: "\\x%02x", u.value)
      } else {
        out.unicodeScalars.append(u)
      }
    }
  }
  out.append(quote)
  return out
}

import Foundation

/// Operators, tests and Python string helpers, with Python's semantics (int/float promotion,
/// floor division and modulo signs, `in` for substrings/keys/items).
extension Builtins {
  static func arithmetic(_ op: String, _ a: Value, _ b: Value, renderer: JinjaRenderer) throws(JinjaError) -> Value {
    if case .undefined(let n) = a { throw .undefined("'\(n)' is undefined (operator \(op))") }
    if case .undefined(let n) = b { throw .undefined("'\(n)' is undefined (operator \(op))") }
    switch (op, a, b) {
    case ("+", .string(let x), .string(let y)):
      try renderer.checkSize(x.utf8.count + y.utf8.count)
      return .string(x + y)
    case ("+", .array(let x), .array(let y)): return .array(x + y)
    case ("*", .string(let x), .int(let n)), ("*", .int(let n), .string(let x)):
      let (size, o) = x.utf8.count.multipliedReportingOverflow(by: max(0, n))
      try renderer.checkSize(o ? .max : size)
      return .string(String(repeating: x, count: max(0, n)))
    case ("*", .array(let x), .int(let n)), ("*", .int(let n), .array(let x)):
      let (count, o) = x.count.multipliedReportingOverflow(by: max(0, n))
      try renderer.countIterations(o ? .max : count)
      return .array(Array([[Value]](repeating: x, count: max(0, n)).joined()))
    default: break
    }
    guard a.isNumeric, b.isNumeric, let x = a.number, let y = b.number else {
      throw .typeError("unsupported operand types for \(op): '\(a.typeName)' and '\(b.typeName)'")
    }
    // Exact integers straight from the values: a Double round trip would trap near Int.max.
    func exact(_ v: Value) -> Int? {
      switch v {
      case .int(let i): return i
      case .bool(let b): return b ? 1 : 0
      default: return nil
      }
    }
    let ints: (Int, Int)? = exact(a).flatMap { p in exact(b).map { (p, $0) } }
    func overflow() -> JinjaError { .typeError("integer overflow in \(op)") }
    switch op {
    case "+":
      if let (p, q) = ints { let (r, o) = p.addingReportingOverflow(q); if o { throw overflow() }; return .int(r) }
      return .double(x + y)
    case "-":
      if let (p, q) = ints { let (r, o) = p.subtractingReportingOverflow(q); if o { throw overflow() }; return .int(r) }
      return .double(x - y)
    case "*":
      if let (p, q) = ints { let (r, o) = p.multipliedReportingOverflow(by: q); if o { throw overflow() }; return .int(r) }
      return .double(x * y)
    case "/":
      guard y != 0 else { throw .typeError("division by zero") }
      return .double(x / y)
    case "//":
      guard y != 0 else { throw .typeError("integer division by zero") }
      if let (p, q) = ints {
        let r = p / q
        return .int((p % q != 0 && (p < 0) != (q < 0)) ? r - 1 : r)
      }
      return .double((x / y).rounded(.down))
    case "%":
      guard y != 0 else { throw .typeError("modulo by zero") }
      if let (p, q) = ints {
        let r = p % q
        return .int(r != 0 && (r < 0) != (q < 0) ? r + q : r)
      }
      let r = x.truncatingRemainder(dividingBy: y)
      return .double(r != 0 && (r < 0) != (y < 0) ? r + y : r)
    case "**":
      if let (p, q) = ints, q >= 0 {
        var r = 1
        for _ in 0..<min(q, 64) {
          let (m, o) = r.multipliedReportingOverflow(by: p)
          if o { throw overflow() }
          r = m
        }
        if q > 64 && abs(p) > 1 { throw overflow() }
        return .int(q > 64 && p == -1 ? (q % 2 == 0 ? 1 : -1) : r)
      }
      return .double(pow(x, y))
    default:
      throw .syntax("unknown operator \(op)", line: 0)
    }
  }

  static func compare(_ op: String, _ a: Value, _ b: Value) throws(JinjaError) -> Bool {
    switch op {
    case "==": return pyEqual(a, b)
    case "!=": return !pyEqual(a, b)
    case "<": return try pyLess(a, b)
    case ">": return try pyLess(b, a)
    case "<=": return try !pyLess(b, a)
    case ">=": return try !pyLess(a, b)
    case "in": return try contains(b, a)
    case "notin": return try !contains(b, a)
    default: throw .syntax("unknown comparison \(op)", line: 0)
    }
  }

  static func contains(_ container: Value, _ x: Value) throws(JinjaError) -> Bool {
    switch container {
    case .string(let s):
      guard case .string(let sub) = x else { throw .typeError("'in <string>' requires string as left operand, not \(x.typeName)") }
      return sub.isEmpty || !pyFindAll(Array(s.unicodeScalars), Array(sub.unicodeScalars)).isEmpty
    case .array(let a): return a.contains { pyEqual($0, x) }
    case .object(let d):
      guard case .string(let k) = x else { return false }
      return d[k] != nil
    case .namespace(let ns):
      guard case .string(let k) = x else { return false }
      return ns.dict[k] != nil
    case .undefined: return false
    default: throw .typeError("argument of type '\(container.typeName)' is not iterable")
    }
  }

  static func test(_ name: String, _ v: Value, _ args: [Value], renderer: JinjaRenderer) throws(JinjaError) -> Bool {
    func arg() throws(JinjaError) -> Value {
      guard let a = args.first else { throw .typeError("test '\(name)' needs an argument") }
      return a
    }
    switch name {
    case "defined": return !v.isUndefined
    case "undefined": return v.isUndefined
    case "none": return v.isNone
    case "string": if case .string = v { return true } else { return false }
    case "number": return v.isNumeric
    case "integer": if case .int = v { return true } else { return false }
    case "float": if case .double = v { return true } else { return false }
    case "boolean": if case .bool = v { return true } else { return false }
    case "true": if case .bool(true) = v { return true } else { return false }
    case "false": if case .bool(false) = v { return true } else { return false }
    case "mapping": if case .object = v { return true } else { return false }
    case "callable": if case .callable = v { return true } else { return false }
    case "iterable", "sequence":
      switch v {
      case .string, .array, .object, .undefined: return true
      default: return false
      }
    case "odd", "even", "divisibleby":
      guard case .int(let i) = v else { throw .typeError("test '\(name)' needs an integer") }
      if name == "odd" { return i % 2 != 0 }
      if name == "even" { return i % 2 == 0 }
      guard case .int(let d) = try arg(), d != 0 else { throw .typeError("divisibleby needs a non-zero integer") }
      return i % d == 0
    case "lower": if case .string(let s) = v { return s == s.lowercased() } else { return false }
    case "upper": if case .string(let s) = v { return s == s.uppercased() } else { return false }
    case "sameas":
      let other = try arg()
      return pyEqual(v, other) && v.typeName == other.typeName
    case "equalto", "eq", "==": return pyEqual(v, try arg())
    case "ne", "!=": return !pyEqual(v, try arg())
    case "lt", "lessthan", "<": return try pyLess(v, try arg())
    case "gt", "greaterthan", ">": return try pyLess(try arg(), v)
    case "le", "<=": return try !pyLess(try arg(), v)
    case "ge", ">=": return try !pyLess(v, try arg())
    case "in": return try contains(try arg(), v)
    default: throw .unsupported("test '\(name)'")
    }
  }
}

// MARK: - Python string helpers

/// `str.isspace()` characters: Unicode White_Space plus the ASCII separators 0x1C–0x1F.
func pyIsSpace(_ u: Unicode.Scalar) -> Bool {
  (0x1C...0x1F).contains(u.value) || CodepointFlags.isWhitespace(u.value)
}

func pyStrip(_ s: String, chars: String?, left: Bool = true, right: Bool = true) -> String {
  let set = chars.map { Set($0.unicodeScalars) }
  func drop(_ u: Unicode.Scalar) -> Bool { set?.contains(u) ?? pyIsSpace(u) }
  let u = Array(s.unicodeScalars)
  var lo = 0, hi = u.count
  if left { while lo < hi, drop(u[lo]) { lo += 1 } }
  if right { while hi > lo, drop(u[hi - 1]) { hi -= 1 } }
  var out = String.UnicodeScalarView()
  out.append(contentsOf: u[lo..<hi])
  return String(out)
}

func pyFindAll(_ u: [Unicode.Scalar], _ p: [Unicode.Scalar]) -> [Int] {
  guard !p.isEmpty else { return Array(0...u.count) }
  guard p.count <= u.count else { return [] }
  var hits: [Int] = []
  var i = 0
  while i + p.count <= u.count {
    if u[i] == p[0] && Array(u[i..<(i + p.count)]) == p {
      hits.append(i)
      i += p.count
    } else {
      i += 1
    }
  }
  return hits
}

func pyReplace(_ s: String, _ old: String, _ new: String, count: Int) -> String {
  let u = Array(s.unicodeScalars), o = Array(old.unicodeScalars)
  if o.isEmpty {
    // Python inserts `new` between every character (and at both ends).
    var parts = u.map { String($0) }
    parts.insert("", at: 0)
    parts.append("")
    return parts.joined(separator: new)
  }
  var out = String.UnicodeScalarView()
  var i = 0, done = 0
  while i < u.count {
    if (count < 0 || done < count), i + o.count <= u.count, Array(u[i..<(i + o.count)]) == o {
      out.append(contentsOf: new.unicodeScalars)
      i += o.count
      done += 1
    } else {
      out.append(u[i])
      i += 1
    }
  }
  return String(out)
}

func pySplit(_ s: String, sep: String?, maxsplit: Int, fromRight: Bool) -> [String] {
  let u = Array(s.unicodeScalars)
  func str(_ r: ArraySlice<Unicode.Scalar>) -> String { var v = String.UnicodeScalarView(); v.append(contentsOf: r); return String(v) }
  guard let sep, !sep.isEmpty else {
    // Whitespace split: runs of whitespace separate, empty pieces vanish.
    var words: [Range<Int>] = []
    var i = 0
    while i < u.count {
      while i < u.count, pyIsSpace(u[i]) { i += 1 }
      guard i < u.count else { break }
      let start = i
      while i < u.count, !pyIsSpace(u[i]) { i += 1 }
      words.append(start..<i)
    }
    guard maxsplit >= 0, words.count > maxsplit + 1 else { return words.map { str(u[$0]) } }
    if fromRight {
      let keep = words.suffix(maxsplit)
      let head = str(u[words[0].lowerBound..<words[words.count - maxsplit - 1].upperBound])
      return [head] + keep.map { str(u[$0]) }
    }
    let lastStart = words[maxsplit].lowerBound
    var tailEnd = u.count
    while tailEnd > lastStart, pyIsSpace(u[tailEnd - 1]) { tailEnd -= 1 }
    return words.prefix(maxsplit).map { str(u[$0]) } + [str(u[lastStart..<tailEnd])]
  }
  let p = Array(sep.unicodeScalars)
  var hits = pyFindAll(u, p)
  if maxsplit >= 0 && hits.count > maxsplit {
    hits = fromRight ? Array(hits.suffix(maxsplit)) : Array(hits.prefix(maxsplit))
  }
  var out: [String] = []
  var start = 0
  for h in hits {
    out.append(str(u[start..<h]))
    start = h + p.count
  }
  out.append(str(u[start...]))
  return out
}

func pySplitLines(_ s: String) -> [String] {
  var out: [String] = []
  var cur = String.UnicodeScalarView()
  let u = Array(s.unicodeScalars)
  var i = 0
  while i < u.count {
    let c = u[i]
    if ["\n", "\r", "\u{0B}", "\u{0C}", "\u{1C}", "\u{1D}", "\u{1E}", "\u{85}", "\u{2028}", "\u{2029}"].contains(c) {
      out.append(String(cur))
      cur = String.UnicodeScalarView()
      if c == "\r", i + 1 < u.count, u[i + 1] == "\n" { i += 1 }
    } else {
      cur.append(c)
    }
    i += 1
  }
  if !cur.isEmpty { out.append(String(cur)) }
  return out
}

func pyCapitalize(_ s: String) -> String {
  guard let f = s.first else { return s }
  return String(f).uppercased() + s.dropFirst().lowercased()
}

/// `str.title()`: uppercase after any non-letter, lowercase elsewhere.
func pyTitle(_ s: String) -> String {
  var out = ""
  var prevLetter = false
  for ch in s {
    out += prevLetter ? ch.lowercased() : ch.uppercased()
    prevLetter = ch.isLetter
  }
  return out
}

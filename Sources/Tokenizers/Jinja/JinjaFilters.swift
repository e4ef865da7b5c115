/// Jinja2's built-in filters that chat templates use, with its semantics (undefined input
/// mostly behaves as empty; `tojson` is transformers' `json.dumps(ensure_ascii=False)`).
enum Filters {
  static func apply(_ name: String, _ v: Value, _ a: Arguments, renderer r: JinjaRenderer) throws(JinjaError) -> Value {
    switch name {
    case "trim":
      let chars: String? = { if case .string(let c)? = a.get(0, "chars") { return c } else { return nil } }()
      return .string(pyStrip(v.str, chars: chars))
    case "upper": return .string(v.str.uppercased())
    case "lower": return .string(v.str.lowercased())
    case "capitalize": return .string(pyCapitalize(v.str))
    case "title": return .string(pyTitle(v.str))
    case "string": return .string(v.str)
    case "safe": return v
    case "e", "escape":
      var out = ""
      for ch in v.str {
        switch ch {
        case "&": out += "&amp;"
        case "<": out += "&lt;"
        case ">": out += "&gt;"
        case "\"": out += "&#34;"
        case "'": out += "&#39;"
        default: out.append(ch)
        }
      }
      return .string(out)
    case "length", "count":
      switch v {
      case .string(let s): return .int(s.unicodeScalars.count)
      case .array(let x): return .int(x.count)
      case .object(let d): return .int(d.count)
      case .namespace(let ns): return .int(ns.dict.count)
      case .undefined: return .int(0)
      default: throw .typeError("object of type '\(v.typeName)' has no len()")
      }
    case "default", "d":
      let fallback = a.get(0, "default_value") ?? .string("")
      let boolean = a.get(1, "boolean")?.truthy ?? false
      return v.isUndefined || (boolean && !v.truthy) ? fallback : v
    case "tojson":
      var indent: Int? = nil
      if case .int(let n)? = a.get(0, "indent") { indent = n }
      let sortKeys = a.get(3, "sort_keys")?.truthy ?? false
      var separators: (item: String, key: String)? = nil
      if case .array(let seps)? = a.get(2, "separators"), seps.count == 2, case .string(let i) = seps[0], case .string(let k) = seps[1] {
        separators = (i, k)
      }
      let text = JSONWriter.write(try v.toJinja(), indent: indent, sortKeys: sortKeys, separators: separators)
      try r.checkSize(text.utf8.count)
      return .string(text)
    case "join":
      let sep = a.get(0, "d")?.str ?? ""
      var items = try v.iterate("join")
      try r.countIterations(items.count)
      if let attr = a.get(1, "attribute") { items = try items.map { x throws(JinjaError) in try path(x, attr) } }
      let s = items.map(\.str).joined(separator: sep)
      try r.checkSize(s.utf8.count)
      return .string(s)
    case "first": return try v.iterate("first").first ?? .undefined("first of empty sequence")
    case "last": return try v.iterate("last").last ?? .undefined("last of empty sequence")
    case "list": return .array(try v.iterate("list"))
    case "reverse":
      if case .string(let s) = v { return .string(String(s.unicodeScalars.reversed().map(Character.init))) }
      return .array(try v.iterate("reverse").reversed())
    case "items":
      switch v {
      case .undefined: return .array([])
      case .object(let d): return .array(d.pairs.map { .array([.string($0.0), $0.1]) })
      case .namespace(let ns): return .array(ns.dict.pairs.map { .array([.string($0.0), $0.1]) })
      default: throw .typeError("items filter needs a mapping, not \(v.typeName)")
      }
    case "dictsort":
      guard case .object(let d) = v else { throw .typeError("dictsort needs a mapping") }
      let byValue: Bool = { if case .string("value")? = a.get(2, "by") { return true } else { return false } }()
      let reverse = a.get(3, "reverse")?.truthy ?? false
      var pairs = d.pairs
      try sortValues(&pairs) { x throws(JinjaError) in foldCase(byValue ? x.1 : .string(x.0)) }
      if reverse { pairs.reverse() }
      return .array(pairs.map { .array([.string($0.0), $0.1]) })
    case "replace":
      guard case .string(let old)? = a.get(0, "old"), case .string(let new)? = a.get(1, "new") else {
        throw .typeError("replace needs two strings")
      }
      var count = -1
      if case .int(let c)? = a.get(2, "count") { count = c }
      let s = pyReplace(v.str, old, new, count: count)
      try r.checkSize(s.utf8.count)
      return .string(s)
    case "selectattr", "rejectattr", "select", "reject":
      let items = try v.iterate(name)
      try r.countIterations(items.count)
      let byAttr = name.hasSuffix("attr")
      var rest = a.positional
      var attr: Value? = nil
      if byAttr {
        guard !rest.isEmpty else { throw .typeError("\(name) needs an attribute name") }
        attr = rest.removeFirst()
      }
      let testName: String? = rest.isEmpty ? nil : rest.removeFirst().str
      let keep = name.hasPrefix("select")
      var out: [Value] = []
      for item in items {
        let x = try attr.map { p throws(JinjaError) in try path(item, p) } ?? item
        let ok = try testName.map { t throws(JinjaError) in try Builtins.test(t, x, rest, renderer: r) } ?? x.truthy
        if ok == keep { out.append(item) }
      }
      return .array(out)
    case "map":
      let items = try v.iterate("map")
      try r.countIterations(items.count)
      if let attr = a.keyword.first(where: { $0.0 == "attribute" })?.1 {
        let def = a.keyword.first(where: { $0.0 == "default" })?.1
        return .array(try items.map { x throws(JinjaError) in
          let y = try path(x, attr)
          return y.isUndefined ? (def ?? y) : y
        })
      }
      guard case .string(let f)? = a.positional.first else { throw .typeError("map needs a filter name or attribute=") }
      let fargs = Arguments(positional: Array(a.positional.dropFirst()), keyword: a.keyword)
      return .array(try items.map { x throws(JinjaError) in try r.callFilter(f, x, fargs) })
    case "sort":
      var items = try v.iterate("sort")
      try r.countIterations(items.count)
      let reverse = a.get(0, "reverse")?.truthy ?? false
      let caseSensitive = a.get(1, "case_sensitive")?.truthy ?? false
      let attr = a.get(2, "attribute")
      try sortValues(&items) { x throws(JinjaError) in
        let k = try attr.map { p throws(JinjaError) in try path(x, p) } ?? x
        if !caseSensitive, case .string(let s) = k { return .string(s.lowercased()) }
        return k
      }
      if reverse { items.reverse() }
      return .array(items)
    case "unique":
      // Jinja2 compares case-insensitively unless told otherwise, keeping the first spelling.
      let caseSensitive = a.get(0, "case_sensitive")?.truthy ?? false
      var out: [Value] = [], seen: [Value] = []
      for x in try v.iterate("unique") {
        let k = caseSensitive ? x : foldCase(x)
        if !seen.contains(where: { pyEqual($0, k) }) { seen.append(k); out.append(x) }
      }
      return .array(out)
    case "min", "max":
      let items = try v.iterate(name)
      let caseSensitive = a.get(0, "case_sensitive")?.truthy ?? false
      func key(_ x: Value) -> Value { caseSensitive ? x : foldCase(x) }
      guard var best = items.first else { return .undefined("\(name) of empty sequence") }
      for x in items.dropFirst() where try (name == "min" ? pyLess(key(x), key(best)) : pyLess(key(best), key(x))) { best = x }
      return best
    case "sum":
      var total = a.get(1, "start") ?? .int(0)
      let attr = a.get(0, "attribute")
      for x in try v.iterate("sum") {
        total = try Builtins.arithmetic("+", total, try attr.map { p throws(JinjaError) in try path(x, p) } ?? x, renderer: r)
      }
      return total
    case "int":
      let def = a.get(0, "default") ?? .int(0)
      switch v {
      case .int: return v
      case .bool(let b): return .int(b ? 1 : 0)
      case .double(let d): return Int(exactly: d.rounded(.towardZero)).map { .int($0) } ?? def
      case .string(let s):
        let t = pyStrip(s, chars: nil)
        if let i = Int(t) { return .int(i) }
        if let d = Double(t), let i = Int(exactly: d.rounded(.towardZero)) { return .int(i) }
        return def
      default: return def
      }
    case "float":
      let def = a.get(0, "default") ?? .double(0)
      switch v {
      case .int(let i): return .double(Double(i))
      case .double: return v
      case .bool(let b): return .double(b ? 1 : 0)
      case .string(let s): return Double(pyStrip(s, chars: nil)).map { .double($0) } ?? def
      default: return def
      }
    case "abs":
      switch v {
      case .int(let i):
        guard i != .min else { throw .typeError("integer overflow in abs") }
        return .int(abs(i))
      case .double(let d): return .double(abs(d))
      default: throw .typeError("bad operand type for abs(): '\(v.typeName)'")
      }
    case "round":
      guard let x = v.number else { throw .typeError("round needs a number") }
      var precision = 0
      if case .int(let p)? = a.get(0, "precision") { precision = p }
      let method = a.get(1, "method")?.str ?? "common"
      let scale = pow10(precision)
      let rule: FloatingPointRoundingRule = method == "ceil" ? .up : method == "floor" ? .down : .toNearestOrAwayFromZero
      return .double((x * scale).rounded(rule) / scale)
    case "indent":
      let width = a.get(0, "width") ?? .int(4)
      let indentation: String = { if case .int(let n) = width { return String(repeating: " ", count: max(0, n)) } else { return width.str } }()
      let first = a.get(1, "first")?.truthy ?? false
      let blank = a.get(2, "blank")?.truthy ?? false
      let lines = pySplitLines(v.str + "\n")
      var out: String
      if blank {
        out = lines.joined(separator: "\n" + indentation)
      } else {
        out = lines.first ?? ""
        let rest = lines.dropFirst()
        if !rest.isEmpty { out += "\n" + rest.map { $0.isEmpty ? $0 : indentation + $0 }.joined(separator: "\n") }
      }
      if first { out = indentation + out }
      try r.checkSize(out.utf8.count)
      return .string(out)
    case "wordcount":
      return .int(pySplit(v.str, sep: nil, maxsplit: -1, fromRight: false).count)
    case "attr":
      guard case .string(let n)? = a.positional.first else { throw .typeError("attr needs a name") }
      return try Builtins.attribute(v, n)
    default:
      throw .unsupported("filter '\(name)'")
    }
  }

  /// Jinja2's `ignore_case`: strings compare lowercased.
  static func foldCase(_ v: Value) -> Value {
    if case .string(let s) = v { return .string(s.lowercased()) }
    return v
  }

  /// Attribute lookup by `"a.b"` path or integer index, as Jinja2's `make_attrgetter`.
  static func path(_ v: Value, _ p: Value) throws(JinjaError) -> Value {
    if case .int = p { return try Builtins.item(v, p) }
    var cur = v
    for part in p.str.split(separator: ".", omittingEmptySubsequences: false) {
      if cur.isUndefined { return cur }
      cur = try Builtins.item(cur, Int(part).map { .int($0) } ?? .string(String(part)))
    }
    return cur
  }

  /// A stable sort by Python ordering of `key(x)`, TypeErrors included.
  static func sortValues<T>(_ items: inout [T], key: (T) throws(JinjaError) -> Value) throws(JinjaError) {
    var keyed: [(Value, T)] = []
    for x in items { keyed.append((try key(x), x)) }
    var failure: JinjaError? = nil
    keyed = keyed.enumerated().sorted { p, q in
      do {
        if try pyLess(p.element.0, q.element.0) { return true }
        if try pyLess(q.element.0, p.element.0) { return false }
      } catch let e as JinjaError {
        failure = failure ?? e
      } catch {
        failure = failure ?? .typeError("\(error)")
      }
      return p.offset < q.offset
    }.map(\.element)
    if let failure { throw failure }
    items = keyed.map(\.1)
  }

  private static func pow10(_ n: Int) -> Double {
    var r = 1.0
    for _ in 0..<abs(n) { r *= 10 }
    return n < 0 ? 1 / r : r
  }
}

/// JSON text with Python `json.dumps` formatting: `", "`/`": "` separators (`","` plus
/// newlines when indenting), non-ASCII kept, floats as Python prints them.
enum JSONWriter {
  struct Style {
    let indent: Int?
    let sortKeys: Bool
    let itemSeparator: String
    let keySeparator: String
  }

  /// `separators` defaults as in Python: `(", ", ": ")`, or `(",", ": ")` when indenting.
  static func write(_ v: JinjaValue, indent: Int?, sortKeys: Bool, separators: (item: String, key: String)? = nil) -> String {
    let style = Style(
      indent: indent, sortKeys: sortKeys, itemSeparator: separators?.item ?? (indent == nil ? ", " : ","),
      keySeparator: separators?.key ?? ": ")
    var out = ""
    emit(v, style, level: 0, &out)
    return out
  }

  private static func emit(_ v: JinjaValue, _ style: Style, level: Int, _ out: inout String) {
    switch v {
    case .null: out += "null"
    case .bool(let b): out += b ? "true" : "false"
    case .int(let i): out += String(i)
    case .double(let d): out += d.isNaN ? "NaN" : d.isInfinite ? (d < 0 ? "-Infinity" : "Infinity") : pythonFloat(d)
    case .string(let s): quote(s, &out)
    case .array(let a):
      guard !a.isEmpty else { out += "[]"; return }
      out += "["
      for (i, x) in a.enumerated() {
        separator(i, style, level: level + 1, &out)
        emit(x, style, level: level + 1, &out)
      }
      closing(style, level: level, &out)
      out += "]"
    case .object(let o):
      guard o.count > 0 else { out += "{}"; return }
      out += "{"
      let pairs = style.sortKeys ? o.pairs.sorted { $0.0.unicodeScalars.lexicographicallyPrecedes($1.0.unicodeScalars) } : o.pairs
      for (i, (k, x)) in pairs.enumerated() {
        separator(i, style, level: level + 1, &out)
        quote(k, &out)
        out += style.keySeparator
        emit(x, style, level: level + 1, &out)
      }
      closing(style, level: level, &out)
      out += "}"
    }
  }

  private static func separator(_ i: Int, _ style: Style, level: Int, _ out: inout String) {
    if i > 0 { out += style.itemSeparator }
    if let indent = style.indent { out += "\n" + String(repeating: " ", count: indent * level) }
  }

  private static func closing(_ style: Style, level: Int, _ out: inout String) {
    if let indent = style.indent { out += "\n" + String(repeating: " ", count: indent * level) }
  }

  static func quote(_ s: String, _ out: inout String) {
    out += "\""
    for u in s.unicodeScalars {
      switch u {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case "\u{08}": out += "\\b"
      case "\u{0C}": out += "\\f"
      default:
        if u.value < 0x20 {
          let h = String(u.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - h.count) + h
        } else {
          out.unicodeScalars.append(u)
        }
      }
    }
    out += "\""
  }
}

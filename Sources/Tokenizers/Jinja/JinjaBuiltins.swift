/// Attribute and item access, operators, methods and globals — the whole surface a template can
/// reach. Anything not listed here does not exist for a template; names starting with `_` are
/// refused outright, so Python-style escapes (`''.__class__`) have nothing to find.
enum Builtins {
  // MARK: - Access

  static func attribute(_ v: Value, _ name: String) throws(JinjaError) -> Value {
    guard !name.hasPrefix("_") else { throw .unsafeAccess("attribute '\(name)' of \(v.typeName)") }
    switch v {
    case .undefined(let n): throw .undefined("'\(n)' is undefined (reading '.\(name)')")
    case .object(let d):
      // Jinja2 tries the Python attribute first, so dict methods win over same-named keys.
      if let m = dictMethod(d, name) { return m }
      return d[name] ?? .undefined(name)
    case .namespace(let ns): return ns.dict[name] ?? .undefined(name)
    case .string(let s): return stringMethod(s, name) ?? .undefined(name)
    case .array(let a): return listMethod(a, name) ?? .undefined(name)
    default: return .undefined(name)
    }
  }

  static func item(_ v: Value, _ key: Value) throws(JinjaError) -> Value {
    switch (v, key) {
    case (.undefined(let n), _): throw .undefined("'\(n)' is undefined (indexing it)")
    case (.object(let d), .string(let k)):
      if let x = d[k] { return x }
      guard !k.hasPrefix("_") else { throw .unsafeAccess("item '\(k)'") }
      return dictMethod(d, k) ?? .undefined(k)
    case (.namespace(let ns), .string(let k)): return ns.dict[k] ?? .undefined(k)
    case (.array(let a), _):
      guard let i = intIndex(key) else {
        if case .string(let k) = key { return try attribute(v, k) }
        throw .typeError("list indices must be integers, not \(key.typeName)")
      }
      let j = i < 0 ? a.count + i : i
      return j >= 0 && j < a.count ? a[j] : .undefined("index \(i)")
    case (.string(let s), _):
      guard let i = intIndex(key) else {
        if case .string(let k) = key { return try attribute(v, k) }
        throw .typeError("string indices must be integers")
      }
      let u = Array(s.unicodeScalars)
      let j = i < 0 ? u.count + i : i
      return j >= 0 && j < u.count ? .string(String(u[j])) : .undefined("index \(i)")
    case (_, .string(let k)): return try attribute(v, k)
    default: return .undefined("item")
    }
  }

  private static func intIndex(_ v: Value) -> Int? {
    switch v {
    case .int(let i): return i
    case .bool(let b): return b ? 1 : 0
    default: return nil
    }
  }

  /// Python slicing `v[a:b:c]` for lists and strings (by code point).
  static func slice(_ v: Value, _ a: Value?, _ b: Value?, _ c: Value?) throws(JinjaError) -> Value {
    func bound(_ x: Value?) throws(JinjaError) -> Int? {
      guard let x, !x.isNone, !x.isUndefined else { return nil }
      guard let i = intIndex(x) else { throw .typeError("slice indices must be integers") }
      return i
    }
    let step = try bound(c) ?? 1
    guard step != 0 else { throw .typeError("slice step cannot be zero") }
    func indices(_ n: Int) throws(JinjaError) -> [Int] {
      func clamp(_ i: Int?, _ def: Int, lo: Int, hi: Int) -> Int {
        guard let i else { return def }
        let j = i < 0 ? i + n : i
        return min(max(j, lo), hi)
      }
      if step > 0 {
        let s = clamp(try bound(a), 0, lo: 0, hi: n), e = clamp(try bound(b), n, lo: 0, hi: n)
        return s < e ? Array(stride(from: s, to: e, by: step)) : []
      }
      let s = clamp(try bound(a), n - 1, lo: -1, hi: n - 1), e = clamp(try bound(b), -1, lo: -1, hi: n - 1)
      return s > e ? Array(stride(from: s, to: e, by: step)) : []
    }
    switch v {
    case .array(let arr): return .array(try indices(arr.count).map { arr[$0] })
    case .string(let s):
      let u = Array(s.unicodeScalars)
      var out = String.UnicodeScalarView()
      for i in try indices(u.count) { out.append(u[i]) }
      return .string(String(out))
    case .undefined(let n): throw .undefined("'\(n)' is undefined (slicing it)")
    default: throw .typeError("'\(v.typeName)' object is not subscriptable")
    }
  }

  // MARK: - Methods

  private static func method(_ name: String, _ f: @escaping (Arguments) throws(JinjaError) -> Value) -> Value {
    .callable(Callable(name: name, call: f))
  }

  static func dictMethod(_ d: VDict, _ name: String) -> Value? {
    switch name {
    case "items": return method(name) { _ in .array(d.pairs.map { .array([.string($0.0), $0.1]) }) }
    case "keys": return method(name) { _ in .array(d.keys.map { .string($0) }) }
    case "values": return method(name) { _ in .array(d.pairs.map { $0.1 }) }
    case "get":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        guard case .string(let k)? = a.get(0, "key") else { return a.get(1, "default") ?? .none }
        return d[k] ?? a.get(1, "default") ?? .none
      }
    case "copy": return method(name) { _ in .object(d) }
    case "update", "pop", "popitem", "setdefault", "clear":
      return method(name) { (_: Arguments) throws(JinjaError) -> Value in throw .unsafeAccess("dict.\(name) would modify data") }
    default: return nil
    }
  }

  static func listMethod(_ a: [Value], _ name: String) -> Value? {
    switch name {
    case "index":
      return method(name) { (args: Arguments) throws(JinjaError) -> Value in
        guard let x = args.get(0, "value"), let i = a.firstIndex(where: { pyEqual($0, x) }) else { throw .typeError("value is not in list") }
        return .int(i)
      }
    case "count":
      return method(name) { (args: Arguments) throws(JinjaError) -> Value in
        guard let x = args.get(0, "value") else { throw .typeError("count() takes one argument") }
        return .int(a.filter { pyEqual($0, x) }.count)
      }
    case "append", "extend", "insert", "pop", "remove", "clear", "sort", "reverse":
      return method(name) { (_: Arguments) throws(JinjaError) -> Value in throw .unsafeAccess("list.\(name) would modify data") }
    default: return nil
    }
  }

  static func stringMethod(_ s: String, _ name: String) -> Value? {
    func str(_ a: Arguments, _ i: Int, _ n: String) throws(JinjaError) -> String? {
      guard let v = a.get(i, n), !v.isNone else { return nil }
      guard case .string(let x) = v else { throw .typeError("\(name)() argument must be str, not \(v.typeName)") }
      return x
    }
    switch name {
    case "strip", "lstrip", "rstrip":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        .string(pyStrip(s, chars: try str(a, 0, "chars"), left: name != "rstrip", right: name != "lstrip"))
      }
    case "lower": return method(name) { _ in .string(s.lowercased()) }
    case "upper": return method(name) { _ in .string(s.uppercased()) }
    case "title": return method(name) { _ in .string(pyTitle(s)) }
    case "capitalize": return method(name) { _ in .string(pyCapitalize(s)) }
    case "split", "rsplit":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        let sep = try str(a, 0, "sep")
        var maxsplit = -1
        if case .int(let m)? = a.get(1, "maxsplit") { maxsplit = m }
        return .array(pySplit(s, sep: sep, maxsplit: maxsplit, fromRight: name == "rsplit").map { .string($0) })
      }
    case "splitlines":
      return method(name) { _ in .array(pySplitLines(s).map { .string($0) }) }
    case "startswith", "endswith":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        var options: [String] = []
        switch a.get(0, "prefix") {
        case .string(let p)?: options = [p]
        case .array(let ps)?: for p in ps { if case .string(let x) = p { options.append(x) } }
        default: throw .typeError("\(name)() needs a string or a tuple of strings")
        }
        let u = Array(s.unicodeScalars)
        return .bool(options.contains { o in
          let ou = Array(o.unicodeScalars)
          return name == "startswith" ? u.starts(with: ou) : u.count >= ou.count && Array(u[(u.count - ou.count)...]) == ou
        })
      }
    case "replace":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        guard let old = try str(a, 0, "old"), let new = try str(a, 1, "new") else { throw .typeError("replace() takes two strings") }
        var count = -1
        if case .int(let c)? = a.get(2, "count") { count = c }
        return .string(pyReplace(s, old, new, count: count))
      }
    case "find", "rfind", "count":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        guard let sub = try str(a, 0, "sub") else { throw .typeError("\(name)() takes a string") }
        let u = Array(s.unicodeScalars), p = Array(sub.unicodeScalars)
        let hits = pyFindAll(u, p)
        if name == "count" { return .int(hits.count) }
        return .int((name == "find" ? hits.first : hits.last) ?? -1)
      }
    case "join":
      return method(name) { (a: Arguments) throws(JinjaError) -> Value in
        guard let items = a.get(0, "iterable") else { throw .typeError("join() takes one argument") }
        var parts: [String] = []
        for v in try items.iterate("join") {
          guard case .string(let x) = v else { throw .typeError("sequence item: expected str, \(v.typeName) found") }
          parts.append(x)
        }
        return .string(parts.joined(separator: s))
      }
    case "isdigit": return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.numericType != nil }) }
    case "isalpha": return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy { $0.properties.isAlphabetic }) }
    case "isspace": return method(name) { _ in .bool(!s.isEmpty && s.unicodeScalars.allSatisfy(pyIsSpace)) }
    case "islower": return method(name) { _ in .bool(s.contains { $0.isLetter } && s == s.lowercased()) }
    case "isupper": return method(name) { _ in .bool(s.contains { $0.isLetter } && s == s.uppercased()) }
    default: return nil
    }
  }

  // MARK: - Globals

  static func globals(renderer: JinjaRenderer, now: @escaping @Sendable () -> (year: Int, month: Int, day: Int)) -> [String: Value] {
    var g: [String: Value] = [:]
    g["raise_exception"] = method("raise_exception") { (a: Arguments) throws(JinjaError) -> Value in
      throw .raised(a.get(0, "message")?.str ?? "")
    }
    g["namespace"] = method("namespace") { (a: Arguments) throws(JinjaError) -> Value in
      var d = VDict()
      if case .object(let init0)? = a.positional.first { d = init0 }
      for (k, v) in a.keyword { d[k] = v }
      return .namespace(Namespace(d))
    }
    g["dict"] = method("dict") { (a: Arguments) throws(JinjaError) -> Value in
      var d = VDict()
      if case .object(let init0)? = a.positional.first { d = init0 }
      for (k, v) in a.keyword { d[k] = v }
      return .object(d)
    }
    g["range"] = method("range") { [unowned renderer] (a: Arguments) throws(JinjaError) -> Value in
      var ints: [Int] = []
      for v in a.positional {
        guard case .int(let i) = v else { throw .typeError("range() takes integers") }
        ints.append(i)
      }
      let (start, stop, step): (Int, Int, Int)
      switch ints.count {
      case 1: (start, stop, step) = (0, ints[0], 1)
      case 2: (start, stop, step) = (ints[0], ints[1], 1)
      case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
      default: throw .typeError("range() takes 1 to 3 arguments")
      }
      guard step != 0 else { throw .typeError("range() step must not be zero") }
      // Counted in floating point first so that extreme bounds cannot overflow.
      let span = (Double(stop) - Double(start)) / Double(step)
      try renderer.countIterations(span > 1e15 ? .max : max(0, Int(span.rounded(.up))))
      return .array(stride(from: start, to: stop, by: step).map { .int($0) })
    }
    g["strftime_now"] = method("strftime_now") { (a: Arguments) throws(JinjaError) -> Value in
      guard case .string(let fmt)? = a.get(0, "format") else { throw .typeError("strftime_now() takes a format string") }
      return .string(strftime(fmt, now()))
    }
    return g
  }

  /// The date parts of C `strftime` (templates only print dates; the time of day is midnight).
  static func strftime(_ fmt: String, _ date: (year: Int, month: Int, day: Int)) -> String {
    let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"]
    let days = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"]
    let (y, m, d) = date
    // Day of week by Sakamoto's method (0 = Sunday), shifted to Monday = 0.
    let t = [0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4]
    let yy = m < 3 ? y - 1 : y
    let dow = ((yy + yy / 4 - yy / 100 + yy / 400 + t[m - 1] + d) % 7 + 6) % 7
    func two(_ n: Int) -> String { n < 10 ? "0\(n)" : "\(n)" }
    var out = ""
    var it = fmt.makeIterator()
    while let c = it.next() {
      guard c == "%", let f = it.next() else { out.append(c); continue }
      switch f {
      case "d": out += two(d)
      case "m": out += two(m)
      case "Y": out += String(y)
      case "y": out += two(y % 100)
      case "b": out += String(months[m - 1].prefix(3))
      case "B": out += months[m - 1]
      case "a": out += String(days[dow].prefix(3))
      case "A": out += days[dow]
      case "H", "M", "S": out += "00"
      case "%": out += "%"
      default: out += "%" + String(f)
      }
    }
    return out
  }
}

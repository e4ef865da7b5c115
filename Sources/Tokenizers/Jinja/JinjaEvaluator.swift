/// Executes parsed statements against a context. Sandboxed: templates only see the data passed
/// in plus a fixed set of globals, filters and methods; every loop iteration, nesting level and
/// output byte is counted against `JinjaLimits`.
final class JinjaRenderer {
  let limits: JinjaLimits
  private var scopes: [[String: Value]]
  private var globals: [String: Value] = [:]
  private var iterations = 0
  private var depth = 0
  private var outputBytes = 0

  private enum Flow { case normal, breakLoop, continueLoop }

  init(context: [String: Value], limits: JinjaLimits, now: @escaping @Sendable () -> (year: Int, month: Int, day: Int)) {
    self.limits = limits
    scopes = [context]
    globals = Builtins.globals(renderer: self, now: now)
  }

  func render(_ body: [Stmt]) throws(JinjaError) -> String {
    var out = ""
    _ = try exec(body, into: &out)
    return out
  }

  // MARK: - Limits

  func countIterations(_ n: Int = 1) throws(JinjaError) {
    iterations = iterations.addingReportingOverflow(n).overflow ? .max : iterations + n
    if iterations > limits.maxLoopIterations { throw .loopLimitExceeded(limits.maxLoopIterations) }
  }

  private func enter() throws(JinjaError) {
    depth += 1
    if depth > limits.maxDepth { throw .recursionLimitExceeded(limits.maxDepth) }
  }

  private func write(_ s: String, _ out: inout String) throws(JinjaError) {
    outputBytes += s.utf8.count
    if outputBytes > limits.maxOutputBytes { throw .outputLimitExceeded(limits.maxOutputBytes) }
    out += s
  }

  /// Strings built by operators count too, so `'x' * 10**9` stops before it is made.
  func checkSize(_ n: Int) throws(JinjaError) {
    if n > limits.maxOutputBytes { throw .outputLimitExceeded(limits.maxOutputBytes) }
  }

  // MARK: - Scopes

  private func lookup(_ name: String) -> Value {
    for s in scopes.reversed() { if let v = s[name] { return v } }
    return globals[name] ?? .undefined(name)
  }

  private func assign(_ name: String, _ v: Value) { scopes[scopes.count - 1][name] = v }

  // MARK: - Statements

  private func exec(_ stmts: [Stmt], into out: inout String) throws(JinjaError) -> Flow {
    try enter()
    defer { depth -= 1 }
    for s in stmts {
      switch s {
      case .text(let t):
        try write(t, &out)
      case .output(let e):
        try write(try eval(e).str, &out)
      case .ifs(let branches, let otherwise):
        var chosen = otherwise
        for (cond, body) in branches {
          if try eval(cond).truthy {
            chosen = body
            break
          }
        }
        let f = try exec(chosen, into: &out)
        if f != .normal { return f }
      case .forLoop(let targets, let iterable, let filter, let body, let otherwise):
        try forLoop(targets, iterable, filter, body, otherwise, &out)
      case .set(let target, let expr):
        let v = try eval(expr)
        switch target {
        case .name(let n): assign(n, v)
        case .names(let ns):
          let items = try v.iterate("unpacking")
          guard items.count == ns.count else { throw .typeError("cannot unpack \(items.count) values into \(ns.count) names") }
          for (n, item) in zip(ns, items) { assign(n, item) }
        case .attribute(let obj, let attr):
          guard case .namespace(let ns) = lookup(obj) else { throw .typeError("cannot assign attribute on non-namespace '\(obj)'") }
          guard !attr.hasPrefix("_") else { throw .unsafeAccess("attribute '\(attr)'") }
          ns.dict[attr] = v
        }
      case .setBlock(let name, let body, let filters):
        var captured = ""
        _ = try exec(body, into: &captured)
        var v = Value.string(captured)
        for (f, args, kwargs) in filters { v = try applyFilter(f, v, args, kwargs) }
        assign(name, v)
      case .filterBlock(let filters, let body):
        var captured = ""
        _ = try exec(body, into: &captured)
        var v = Value.string(captured)
        for (f, args, kwargs) in filters { v = try applyFilter(f, v, args, kwargs) }
        try write(v.str, &out)
      case .macro(let name, let params, let body):
        assign(name, .callable(makeMacro(name, params, body)))
      case .breakLoop: return .breakLoop
      case .continueLoop: return .continueLoop
      }
    }
    return .normal
  }

  private func forLoop(
    _ targets: [String], _ iterable: Expr, _ filter: Expr?, _ body: [Stmt], _ otherwise: [Stmt], _ out: inout String
  ) throws(JinjaError) {
    var items = try eval(iterable).iterate("for loop")
    func bind(_ item: Value) throws(JinjaError) {
      if targets.count == 1 {
        assign(targets[0], item)
      } else {
        let parts = try item.iterate("loop unpacking")
        guard parts.count == targets.count else { throw .typeError("cannot unpack \(parts.count) values into \(targets.count) loop variables") }
        for (t, p) in zip(targets, parts) { assign(t, p) }
      }
    }
    if let filter {
      var kept: [Value] = []
      for item in items {
        try countIterations()
        scopes.append([:])
        defer { scopes.removeLast() }
        try bind(item)
        if try eval(filter).truthy { kept.append(item) }
      }
      items = kept
    }
    if items.isEmpty {
      _ = try exec(otherwise, into: &out)
      return
    }
    let n = items.count
    for (i, item) in items.enumerated() {
      try countIterations()
      var loop = VDict([
        ("index", .int(i + 1)), ("index0", .int(i)), ("revindex", .int(n - i)), ("revindex0", .int(n - i - 1)),
        ("first", .bool(i == 0)), ("last", .bool(i == n - 1)), ("length", .int(n)), ("depth", .int(1)), ("depth0", .int(0)),
        ("previtem", i > 0 ? items[i - 1] : .undefined("previtem")),
        ("nextitem", i + 1 < n ? items[i + 1] : .undefined("nextitem")),
      ])
      loop["cycle"] = .callable(Callable(name: "cycle") { (a: Arguments) throws(JinjaError) -> Value in
        guard !a.positional.isEmpty else { throw .typeError("loop.cycle needs at least one value") }
        return a.positional[i % a.positional.count]
      })
      scopes.append(["loop": .object(loop)])
      defer { scopes.removeLast() }
      try bind(item)
      let f = try exec(body, into: &out)
      if f == .breakLoop { break }
    }
  }

  private func makeMacro(_ name: String, _ params: [(String, Expr?)], _ body: [Stmt]) -> Callable {
    Callable(name: name) { [unowned self] (args: Arguments) throws(JinjaError) -> Value in
      var frame: [String: Value] = [:]
      for (i, (p, def)) in params.enumerated() {
        if let v = args.get(i, p) {
          frame[p] = v
        } else if let def {
          frame[p] = try self.eval(def)
        } else {
          frame[p] = .undefined(p)
        }
      }
      for (k, _) in args.keyword where !params.contains(where: { $0.0 == k }) {
        throw .typeError("macro '\(name)' has no parameter '\(k)'")
      }
      if args.positional.count > params.count { throw .typeError("macro '\(name)' takes \(params.count) arguments") }
      // A macro sees the template's top level and its own parameters, not the caller's locals.
      let saved = self.scopes
      self.scopes = [saved[0], frame]
      defer { self.scopes = saved }
      var out = ""
      _ = try self.exec(body, into: &out)
      return .string(out)
    }
  }

  // MARK: - Expressions

  func eval(_ e: Expr) throws(JinjaError) -> Value {
    try enter()
    defer { depth -= 1 }
    switch e {
    case .constant(let v): return v
    case .name(let n): return lookup(n)
    case .list(let items), .tuple(let items):
      var out: [Value] = []
      for x in items { out.append(try eval(x)) }
      return .array(out)
    case .dict(let pairs):
      var d = VDict()
      for (k, v) in pairs {
        guard case .string(let key) = try eval(k) else { throw .typeError("dict keys must be strings") }
        d[key] = try eval(v)
      }
      return .object(d)
    case .attribute(let base, let name):
      return try Builtins.attribute(try eval(base), name)
    case .item(let base, let index):
      return try Builtins.item(try eval(base), try eval(index))
    case .slice(let base, let a, let b, let c):
      return try Builtins.slice(try eval(base), try a.map { x throws(JinjaError) in try eval(x) }, try b.map { x throws(JinjaError) in try eval(x) },
        try c.map { x throws(JinjaError) in try eval(x) })
    case .call(let callee, let args, let kwargs):
      let f = try eval(callee)
      guard case .callable(let c) = f else {
        if case .undefined(let n) = f { throw .undefined("'\(n)' is undefined and cannot be called") }
        throw .typeError("'\(f.typeName)' object is not callable")
      }
      return try c.call(try arguments(args, kwargs))
    case .filter(let base, let name, let args, let kwargs):
      return try applyFilter(name, try eval(base), args, kwargs)
    case .test(let base, let name, let args, let negated):
      var vals: [Value] = []
      for a in args { vals.append(try eval(a)) }
      let r = try Builtins.test(name, try eval(base), vals, renderer: self)
      return .bool(negated ? !r : r)
    case .not(let x): return .bool(!(try eval(x).truthy))
    case .negate(let x):
      switch try eval(x) {
      case .int(let i):
        let (r, o) = Int(0).subtractingReportingOverflow(i)
        if o { throw .typeError("integer overflow in negation") }
        return .int(r)
      case .double(let d): return .double(-d)
      case .bool(let b): return .int(b ? -1 : 0)
      case let v: throw v.isUndefined ? .undefined("cannot negate undefined") : .typeError("bad operand for unary -: '\(v.typeName)'")
      }
    case .plus(let x):
      let v = try eval(x)
      guard v.isNumeric else { throw .typeError("bad operand for unary +: '\(v.typeName)'") }
      return v
    case .binary(let op, let l, let r):
      return try Builtins.arithmetic(op, try eval(l), try eval(r), renderer: self)
    case .and(let l, let r):
      let a = try eval(l)
      return a.truthy ? try eval(r) : a
    case .or(let l, let r):
      let a = try eval(l)
      return a.truthy ? a : try eval(r)
    case .compare(let first, let ops):
      var left = try eval(first)
      for (op, rhs) in ops {
        let right = try eval(rhs)
        guard try Builtins.compare(op, left, right) else { return .bool(false) }
        left = right
      }
      return .bool(true)
    case .concat(let items):
      var s = ""
      for x in items { s += try eval(x).str }
      try checkSize(s.utf8.count)
      return .string(s)
    case .conditional(let then, let cond, let otherwise):
      if try eval(cond).truthy { return try eval(then) }
      return try otherwise.map { x throws(JinjaError) in try eval(x) } ?? .undefined("conditional expression")
    }
  }

  private func arguments(_ args: [Expr], _ kwargs: [(String, Expr)]) throws(JinjaError) -> Arguments {
    var a = Arguments(positional: [], keyword: [])
    for x in args { a.positional.append(try eval(x)) }
    for (k, x) in kwargs { a.keyword.append((k, try eval(x))) }
    return a
  }

  private func applyFilter(_ name: String, _ v: Value, _ args: [Expr], _ kwargs: [(String, Expr)]) throws(JinjaError) -> Value {
    try Filters.apply(name, v, try arguments(args, kwargs), renderer: self)
  }

  /// Calls a filter by name on one value (for `map`, `select`, ...).
  func callFilter(_ name: String, _ v: Value, _ args: Arguments) throws(JinjaError) -> Value {
    try Filters.apply(name, v, args, renderer: self)
  }
}

/// Tokens → statements, following Jinja2's grammar and operator precedence (filters bind tighter
/// than arithmetic: `a + b | trim` trims only `b`; `not` is looser than comparisons).
struct JinjaParser {
  private let toks: [(token: JinjaToken, line: Int)]
  private var i = 0
  private var depth = 0
  private static let maxDepth = 150

  init(_ tokens: [(token: JinjaToken, line: Int)]) { toks = tokens }

  static func parse(_ source: String) throws(JinjaError) -> [Stmt] {
    var p = JinjaParser(try JinjaLexer.tokenize(source))
    let (body, end) = try p.statements(until: [])
    guard end == nil else { throw p.error("unexpected '\(end!)'") }
    return body
  }

  private var cur: JinjaToken { toks[i].token }
  private var line: Int { toks[i].line }
  private func peek(_ k: Int = 1) -> JinjaToken { i + k < toks.count ? toks[i + k].token : .eof }
  private func error(_ m: String) -> JinjaError { .syntax(m, line: line) }

  private mutating func advance() { if i < toks.count - 1 { i += 1 } }
  private func isOp(_ o: String) -> Bool { cur == .op(o) }
  private func isName(_ n: String) -> Bool { cur == .name(n) }

  private mutating func expectOp(_ o: String) throws(JinjaError) {
    guard isOp(o) else { throw error("expected '\(o)'") }
    advance()
  }

  private mutating func expectName() throws(JinjaError) -> String {
    guard case .name(let n) = cur else { throw error("expected a name") }
    advance()
    return n
  }

  private mutating func expectBlockEnd() throws(JinjaError) {
    guard cur == .blockEnd else { throw error("expected '%}'") }
    advance()
  }

  /// Statements until a block tag whose keyword is in `ends` (returned, positioned after it).
  private mutating func statements(until ends: Set<String>) throws(JinjaError) -> ([Stmt], String?) {
    depth += 1
    defer { depth -= 1 }
    guard depth < Self.maxDepth else { throw JinjaError.recursionLimitExceeded(Self.maxDepth) }
    var out: [Stmt] = []
    while true {
      switch cur {
      case .eof:
        if !ends.isEmpty { throw error("missing one of: \(ends.sorted().joined(separator: ", "))") }
        return (out, nil)
      case .text(let t):
        out.append(.text(t))
        advance()
      case .varBegin:
        advance()
        let e = try expression()
        guard cur == .varEnd else { throw error("expected '}}'") }
        advance()
        out.append(.output(e))
      case .blockBegin:
        advance()
        guard case .name(let kw) = cur else { throw error("expected a statement keyword") }
        if ends.contains(kw) {
          advance()
          return (out, kw)
        }
        advance()
        out.append(try statement(kw))
      default:
        throw error("unexpected token")
      }
    }
  }

  private mutating func statement(_ kw: String) throws(JinjaError) -> Stmt {
    switch kw {
    case "if":
      var branches: [(Expr, [Stmt])] = []
      var cond = try expression()
      try expectBlockEnd()
      while true {
        let (body, end) = try statements(until: ["elif", "else", "endif"])
        branches.append((cond, body))
        if end == "elif" {
          cond = try expression()
          try expectBlockEnd()
          continue
        }
        var otherwise: [Stmt] = []
        if end == "else" {
          try expectBlockEnd()
          (otherwise, _) = try statements(until: ["endif"])
        }
        try expectBlockEnd()
        return .ifs(branches, otherwise: otherwise)
      }
    case "for":
      var targets = [try expectName()]
      while isOp(",") {
        advance()
        targets.append(try expectName())
      }
      guard isName("in") else { throw error("expected 'in'") }
      advance()
      let iterable = try expression(allowConditional: false)
      var filter: Expr? = nil
      if isName("if") {
        advance()
        filter = try expression()
      }
      if isName("recursive") { throw JinjaError.unsupported("recursive loops") }
      try expectBlockEnd()
      let (body, end) = try statements(until: ["else", "endfor"])
      var otherwise: [Stmt] = []
      if end == "else" {
        try expectBlockEnd()
        (otherwise, _) = try statements(until: ["endfor"])
      }
      try expectBlockEnd()
      return .forLoop(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
    case "set":
      let first = try expectName()
      var target = SetTarget.name(first)
      if isOp(".") {
        advance()
        target = .attribute(first, try expectName())
      } else if isOp(",") {
        var names = [first]
        while isOp(",") {
          advance()
          names.append(try expectName())
        }
        target = .names(names)
      }
      if isOp("=") {
        advance()
        let value = try tupleExpression()
        try expectBlockEnd()
        return .set(target, value)
      }
      guard case .name(let name) = target else { throw error("block set needs a plain name") }
      let filters = try filterChain()
      try expectBlockEnd()
      let (body, _) = try statements(until: ["endset"])
      try expectBlockEnd()
      return .setBlock(name, body, filters: filters)
    case "macro":
      let name = try expectName()
      try expectOp("(")
      var params: [(String, Expr?)] = []
      while !isOp(")") {
        if !params.isEmpty { try expectOp(",") }
        let p = try expectName()
        var def: Expr? = nil
        if isOp("=") {
          advance()
          def = try expression()
        }
        params.append((p, def))
      }
      advance()
      try expectBlockEnd()
      let (body, _) = try statements(until: ["endmacro"])
      if case .name = cur { advance() }
      try expectBlockEnd()
      return .macro(name: name, params: params, body: body)
    case "filter":
      let filters = try filterChain(leadingPipe: false)
      try expectBlockEnd()
      let (body, _) = try statements(until: ["endfilter"])
      try expectBlockEnd()
      return .filterBlock(filters, body)
    case "generation":
      // transformers' AssistantTracker marks assistant spans; it renders its body unchanged.
      try expectBlockEnd()
      let (body, _) = try statements(until: ["endgeneration"])
      try expectBlockEnd()
      return .ifs([(.constant(.bool(true)), body)], otherwise: [])
    case "break":
      try expectBlockEnd()
      return .breakLoop
    case "continue":
      try expectBlockEnd()
      return .continueLoop
    case "include", "import", "from", "extends", "block", "call":
      throw JinjaError.unsupported("'\(kw)' statements")
    default:
      throw error("unknown statement '\(kw)'")
    }
  }

  /// `| name(args) | name ...` after a block `set` or in a `filter` block.
  private mutating func filterChain(leadingPipe: Bool = true) throws(JinjaError) -> [(String, [Expr], [(String, Expr)])] {
    var out: [(String, [Expr], [(String, Expr)])] = []
    var first = true
    while leadingPipe ? isOp("|") : (first || isOp("|")) {
      if !(first && !leadingPipe) { advance() }
      first = false
      let name = try expectName()
      var args: [Expr] = [], kwargs: [(String, Expr)] = []
      if isOp("(") { (args, kwargs) = try callArguments() }
      out.append((name, args, kwargs))
    }
    return out
  }

  // MARK: - Expressions

  private mutating func nested<T>(_ f: (inout JinjaParser) throws(JinjaError) -> T) throws(JinjaError) -> T {
    depth += 1
    defer { depth -= 1 }
    guard depth < Self.maxDepth else { throw JinjaError.recursionLimitExceeded(Self.maxDepth) }
    return try f(&self)
  }

  /// An expression, or several separated by commas (a tuple), as `set x = a, b` allows.
  private mutating func tupleExpression() throws(JinjaError) -> Expr {
    let first = try expression()
    guard isOp(",") else { return first }
    var items = [first]
    while isOp(",") {
      advance()
      if cur == .blockEnd || isOp(")") { break }
      items.append(try expression())
    }
    return .tuple(items)
  }

  mutating func expression(allowConditional: Bool = true) throws(JinjaError) -> Expr {
    try nested { (p: inout JinjaParser) throws(JinjaError) -> Expr in
      var e = try p.orExpr()
      guard allowConditional else { return e }
      while p.isName("if") {
        p.advance()
        let cond = try p.orExpr()
        var otherwise: Expr? = nil
        if p.isName("else") {
          p.advance()
          otherwise = try p.expression()
        }
        e = .conditional(then: e, condition: cond, otherwise: otherwise)
      }
      return e
    }
  }

  private mutating func orExpr() throws(JinjaError) -> Expr {
    var e = try andExpr()
    while isName("or") {
      advance()
      e = .or(e, try andExpr())
    }
    return e
  }

  private mutating func andExpr() throws(JinjaError) -> Expr {
    var e = try notExpr()
    while isName("and") {
      advance()
      e = .and(e, try notExpr())
    }
    return e
  }

  private mutating func notExpr() throws(JinjaError) -> Expr {
    if isName("not") {
      advance()
      return .not(try nested { (p: inout JinjaParser) throws(JinjaError) -> Expr in try p.notExpr() })
    }
    return try compare()
  }

  private mutating func compare() throws(JinjaError) -> Expr {
    let first = try math1()
    var ops: [(String, Expr)] = []
    while true {
      if case .op(let o) = cur, ["==", "!=", "<", ">", "<=", ">="].contains(o) {
        advance()
        ops.append((o, try math1()))
      } else if isName("in") {
        advance()
        ops.append(("in", try math1()))
      } else if isName("not"), peek() == .name("in") {
        advance()
        advance()
        ops.append(("notin", try math1()))
      } else {
        break
      }
    }
    return ops.isEmpty ? first : .compare(first, ops)
  }

  private mutating func math1() throws(JinjaError) -> Expr {
    var e = try concat()
    while isOp("+") || isOp("-") {
      guard case .op(let o) = cur else { break }
      advance()
      e = .binary(o, e, try concat())
    }
    return e
  }

  private mutating func concat() throws(JinjaError) -> Expr {
    var items = [try math2()]
    while isOp("~") {
      advance()
      items.append(try math2())
    }
    return items.count == 1 ? items[0] : .concat(items)
  }

  private mutating func math2() throws(JinjaError) -> Expr {
    var e = try power()
    while isOp("*") || isOp("/") || isOp("//") || isOp("%") {
      guard case .op(let o) = cur else { break }
      advance()
      e = .binary(o, e, try power())
    }
    return e
  }

  private mutating func power() throws(JinjaError) -> Expr {
    var e = try unary(withFilter: true)
    while isOp("**") {
      advance()
      e = .binary("**", e, try unary(withFilter: true))
    }
    return e
  }

  private mutating func unary(withFilter: Bool) throws(JinjaError) -> Expr {
    var e: Expr
    if isOp("-") {
      advance()
      e = .negate(try nested { (p: inout JinjaParser) throws(JinjaError) -> Expr in try p.unary(withFilter: false) })
    } else if isOp("+") {
      advance()
      e = .plus(try nested { (p: inout JinjaParser) throws(JinjaError) -> Expr in try p.unary(withFilter: false) })
    } else {
      e = try primary()
    }
    e = try postfix(e)
    if withFilter { e = try filters(e) }
    return e
  }

  private mutating func primary() throws(JinjaError) -> Expr {
    switch cur {
    case .name(let n):
      advance()
      switch n {
      case "true", "True": return .constant(.bool(true))
      case "false", "False": return .constant(.bool(false))
      case "none", "None": return .constant(.none)
      default: return .name(n)
      }
    case .string(let s):
      var text = s
      advance()
      while case .string(let more) = cur {
        text += more
        advance()
      }
      return .constant(.string(text))
    case .int(let v):
      advance()
      return .constant(.int(v))
    case .float(let v):
      advance()
      return .constant(.double(v))
    case .op("("):
      advance()
      if isOp(")") {
        advance()
        return .tuple([])
      }
      let first = try expression()
      if isOp(")") {
        advance()
        return first
      }
      var items = [first]
      while isOp(",") {
        advance()
        if isOp(")") { break }
        items.append(try expression())
      }
      try expectOp(")")
      return .tuple(items)
    case .op("["):
      advance()
      var items: [Expr] = []
      while !isOp("]") {
        if !items.isEmpty { try expectOp(",") }
        if isOp("]") { break }
        items.append(try expression())
      }
      advance()
      return .list(items)
    case .op("{"):
      advance()
      var pairs: [(Expr, Expr)] = []
      while !isOp("}") {
        if !pairs.isEmpty { try expectOp(",") }
        if isOp("}") { break }
        let k = try expression()
        try expectOp(":")
        pairs.append((k, try expression()))
      }
      advance()
      return .dict(pairs)
    default:
      throw error("unexpected token in expression")
    }
  }

  private mutating func postfix(_ base: Expr) throws(JinjaError) -> Expr {
    var e = base
    while true {
      if isOp(".") {
        advance()
        switch cur {
        case .name(let n):
          advance()
          e = .attribute(e, n)
        case .int(let k):
          advance()
          e = .item(e, .constant(.int(k)))
        default: throw error("expected an attribute name")
        }
      } else if isOp("[") {
        advance()
        e = try subscriptExpr(e)
      } else if isOp("(") {
        let (args, kwargs) = try callArguments()
        e = .call(e, args, kwargs)
      } else {
        return e
      }
    }
  }

  private mutating func subscriptExpr(_ base: Expr) throws(JinjaError) -> Expr {
    var parts: [Expr?] = []
    var isSlice = false
    var current: Expr? = nil
    while !isOp("]") {
      if isOp(":") {
        isSlice = true
        parts.append(current)
        current = nil
        advance()
      } else {
        guard current == nil else { throw error("expected ':' or ']'") }
        current = try expression()
      }
    }
    advance()
    guard isSlice else {
      guard let idx = current else { throw error("empty subscript") }
      return .item(base, idx)
    }
    parts.append(current)
    guard parts.count <= 3 else { throw error("too many ':' in slice") }
    while parts.count < 3 { parts.append(nil) }
    return .slice(base, parts[0], parts[1], parts[2])
  }

  private mutating func callArguments() throws(JinjaError) -> ([Expr], [(String, Expr)]) {
    try expectOp("(")
    var args: [Expr] = []
    var kwargs: [(String, Expr)] = []
    while !isOp(")") {
      if !(args.isEmpty && kwargs.isEmpty) { try expectOp(",") }
      if isOp(")") { break }
      if case .name(let n) = cur, peek() == .op("=") {
        advance()
        advance()
        kwargs.append((n, try expression()))
      } else {
        guard kwargs.isEmpty else { throw error("positional argument after keyword argument") }
        args.append(try expression())
      }
    }
    advance()
    return (args, kwargs)
  }

  private mutating func filters(_ base: Expr) throws(JinjaError) -> Expr {
    var e = base
    while true {
      if isOp("|") {
        advance()
        var name = try expectName()
        while isOp(".") {
          advance()
          name += "." + (try expectName())
        }
        var args: [Expr] = [], kwargs: [(String, Expr)] = []
        if isOp("(") { (args, kwargs) = try callArguments() }
        e = .filter(e, name, args, kwargs)
      } else if isName("is") {
        advance()
        var negated = false
        if isName("not") {
          advance()
          negated = true
        }
        let name = try expectName()
        var args: [Expr] = []
        if isOp("(") {
          (args, _) = try callArguments()
        } else if startsPrimaryArgument() {
          args = [try postfix(try primary())]
        }
        e = .test(e, name, args, negated: negated)
      } else if isOp("(") {
        let (args, kwargs) = try callArguments()
        e = .call(e, args, kwargs)
      } else {
        return e
      }
    }
  }

  /// Jinja2 lets a test take one argument without parentheses: `x is divisibleby 3`.
  private func startsPrimaryArgument() -> Bool {
    switch cur {
    case .name(let n): return !["else", "or", "and", "is", "if", "in", "not"].contains(n)
    case .string, .int, .float: return true
    case .op(let o): return o == "[" || o == "{"
    default: return false
    }
  }
}

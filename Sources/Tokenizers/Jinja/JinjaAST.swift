/// Why a template could not be parsed or rendered. Each sandbox limit has its own case.
public enum JinjaError: Error, Equatable, Sendable, CustomStringConvertible {
  case syntax(String, line: Int)
  /// An operation on an undefined value (attribute of undefined, undefined + 1, ...).
  case undefined(String)
  case typeError(String)
  /// The template called `raise_exception(message)`.
  case raised(String)
  /// Access to internals (`__class__`, `_private`), which the sandbox never allows.
  case unsafeAccess(String)
  /// A feature this renderer leaves out on purpose (`include`, `import`, `extends`, ...).
  case unsupported(String)
  case loopLimitExceeded(Int)
  case recursionLimitExceeded(Int)
  case outputLimitExceeded(Int)
  case invalidJSON(String)

  public var description: String {
    switch self {
    case .syntax(let m, let l): return "template syntax error (line \(l)): \(m)"
    case .undefined(let m): return "undefined value: \(m)"
    case .typeError(let m): return "template type error: \(m)"
    case .raised(let m): return "template raised: \(m)"
    case .unsafeAccess(let m): return "unsafe access refused: \(m)"
    case .unsupported(let m): return "unsupported in templates: \(m)"
    case .loopLimitExceeded(let n): return "template ran more than \(n) loop iterations"
    case .recursionLimitExceeded(let n): return "template nested deeper than \(n)"
    case .outputLimitExceeded(let n): return "template output exceeded \(n) bytes"
    case .invalidJSON(let m): return "invalid JSON: \(m)"
    }
  }
}

/// Bounds that keep a hostile or buggy template from running away with the server.
public struct JinjaLimits: Sendable, Equatable {
  /// Loop iterations over the whole render (all loops, `range`, filters that walk lists).
  public var maxLoopIterations: Int
  /// Nesting of statements, expressions and macro calls.
  public var maxDepth: Int
  public var maxOutputBytes: Int

  public init(maxLoopIterations: Int = 1_000_000, maxDepth: Int = 200, maxOutputBytes: Int = 16 << 20) {
    self.maxLoopIterations = maxLoopIterations
    self.maxDepth = maxDepth
    self.maxOutputBytes = maxOutputBytes
  }
}

indirect enum Expr {
  case constant(Value)
  case name(String)
  case list([Expr])
  case tuple([Expr])
  case dict([(Expr, Expr)])
  case attribute(Expr, String)
  case item(Expr, Expr)
  case slice(Expr, Expr?, Expr?, Expr?)
  case call(Expr, [Expr], [(String, Expr)])
  case filter(Expr, String, [Expr], [(String, Expr)])
  case test(Expr, String, [Expr], negated: Bool)
  case not(Expr)
  case negate(Expr)
  case plus(Expr)
  case binary(String, Expr, Expr)
  case and(Expr, Expr)
  case or(Expr, Expr)
  case compare(Expr, [(String, Expr)])
  case concat([Expr])
  case conditional(then: Expr, condition: Expr, otherwise: Expr?)
}

enum SetTarget {
  case name(String)
  case names([String])
  case attribute(String, String)
}

indirect enum Stmt {
  case text(String)
  case output(Expr)
  case ifs([(Expr, [Stmt])], otherwise: [Stmt])
  case forLoop(targets: [String], iterable: Expr, filter: Expr?, body: [Stmt], otherwise: [Stmt])
  case set(SetTarget, Expr)
  case setBlock(String, [Stmt], filters: [(String, [Expr], [(String, Expr)])])
  case macro(name: String, params: [(String, Expr?)], body: [Stmt])
  case filterBlock([(String, [Expr], [(String, Expr)])], [Stmt])
  case breakLoop
  case continueLoop
}

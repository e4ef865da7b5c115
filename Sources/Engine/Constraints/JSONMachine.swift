/// One open value on the automaton's stack. Plain data, so the stack can be copied, compared and
/// restored cheaply. What `a`, `b`, `c` hold depends on the kind (see each step function).
struct JSONFrame: Equatable {
  enum Kind: UInt8 { case doc, object, key, array, string, number, literal }
  var kind: Kind
  var state: UInt8 = 0
  /// Whitespace bytes in the current gap between tokens of this container.
  var ws: UInt8 = 0
  /// UTF-8 continuation bytes still due (low 2 bits) and which range the next one must be in.
  var utf: UInt8 = 0
  var node: Int32
  var a: Int32 = 0
  var b: Int32 = 0
  var c: Int32 = 0
  /// Bytes the frames below need to close once this one is complete.
  var base: Int
}

/// States per frame kind.
enum ObjectState { static let start: UInt8 = 0, key: UInt8 = 1, colon: UInt8 = 2, value: UInt8 = 3, afterValue: UInt8 = 4, afterComma: UInt8 = 5 }
enum ArrayState { static let start: UInt8 = 0, afterValue: UInt8 = 1, afterComma: UInt8 = 2 }
enum StringState { static let normal: UInt8 = 0, escape: UInt8 = 1, hex: UInt8 = 2, lowBackslash: UInt8 = 3, lowU: UInt8 = 4, lowHex: UInt8 = 5 }
enum NumberState { static let minus: UInt8 = 0, zero: UInt8 = 1, int: UInt8 = 2, dot: UInt8 = 3, frac: UInt8 = 4, expMark: UInt8 = 5, expSign: UInt8 = 6, exp: UInt8 = 7 }

/// A byte-level pushdown automaton for JSON valid under a JSONGrammar. It answers, after every
/// byte, whether the prefix can still become a valid document (`step` returns false otherwise)
/// and how many bytes the shortest completion needs (`cost`). Every write is logged so that a
/// `mark`/`undo` pair lets callers try bytes and take them back without copying the stack.
///
/// anyOf alternatives that start with the same byte are explored as separate choices: `step`
/// reports how many there are, and callers try each (see JSONConstraint).
///
/// Frame fields: object a = next property (local index), b = chosen property (global index, -1
/// for a free-form name); key a = key-trie node (-1 once it left every declared name), b =
/// characters, c = the object's next property; array a = items begun; string a = characters,
/// b/c = \u value and digits; number a/b/c = integer/fraction/exponent digits; literal a = trie node.
struct JSONMachine {
  let g: JSONGrammar
  private(set) var frames: [JSONFrame]
  private(set) var count = 1
  private var trail: [(Int32, JSONFrame)] = []

  /// Whitespace bytes allowed in one gap: enough for indentation, never an endless run.
  static let maxGap: UInt8 = 16
  /// Nesting limit for free-form containers (json_object members); a scalar always remains possible.
  static let maxFreeDepth = 32
  /// Nesting limit for every container, well inside what JSON parsers accept (Foundation: 512).
  /// Only a schema nested this deep could need more.
  static let maxDepth = 256
  static let maxIntDigits: Int32 = 15, maxFracDigits: Int32 = 15, maxExpDigits: Int32 = 2

  init(grammar: JSONGrammar) {
    g = grammar
    frames = [JSONFrame(kind: .doc, node: grammar.root, base: 0)]
    frames.reserveCapacity(16)
    trail.reserveCapacity(64)
  }

  struct Mark { let trail: Int, count: Int }

  @inline(__always) func mark() -> Mark { Mark(trail: trail.count, count: count) }

  @inline(__always) mutating func undo(_ m: Mark) {
    while trail.count > m.trail {
      let (i, f) = trail.removeLast()
      frames[Int(i)] = f
    }
    count = m.count
  }

  /// This state without undo history or dead frames: what a sequence keeps between tokens.
  func settled() -> JSONMachine {
    var m = self
    m.frames = Array(frames[0..<count])
    m.trail = []
    return m
  }

  func sameState(as o: JSONMachine) -> Bool { count == o.count && frames[0..<count] == o.frames[0..<count] }

  var isComplete: Bool { count == 1 && frames[0].state == 1 }

  var top: JSONFrame { frames[count - 1] }

  /// Bytes of the shortest valid completion; costInfinity when there is none.
  func cost() -> Int {
    let f = frames[count - 1]
    return costAdd(f.base, ownCost(f))
  }

  @inline(__always) private mutating func set(_ i: Int, _ f: JSONFrame) {
    trail.append((Int32(i), frames[i]))
    frames[i] = f
  }

  @inline(__always) private mutating func push(_ f: JSONFrame) {
    if count < frames.count { set(count, f) } else { frames.append(f) }
    count += 1
  }

  @inline(__always) static func isSpace(_ c: UInt8) -> Bool { c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 }

  /// Feeds one byte. `choice` picks among anyOf alternatives that start with this byte;
  /// `choices` is set to how many there are when the byte starts such a value.
  mutating func step(_ c: UInt8, choice: Int, choices: inout Int) -> Bool {
    while count > 0 {
      let top = count - 1
      var f = frames[top]
      switch f.kind {
      case .doc:
        guard f.state == 0 else { return false }  // the document is complete: nothing may follow
        f.state = 1
        set(top, f)
        return begin(g.root, c, base: 0, choice: choice, choices: &choices)
      case .object: return stepObject(c, &f, top, choice, &choices)
      case .key: return stepKey(c, &f, top)
      case .array: return stepArray(c, &f, top, choice, &choices)
      case .string: return stepString(c, &f, top)
      case .number:
        switch stepNumber(c, &f) {
        case 0: return false
        case 1: set(top, f); return true
        default: count -= 1  // the number ended before this byte, which its container reads
        }
      case .literal:
        let n = g.trie.child(f.a, c)
        if n >= 0 {
          if g.trie.hasChildren(n) { f.a = n; set(top, f) } else { count -= 1 }
          return true
        }
        guard g.trie.terminal[Int(f.a)] >= 0 else { return false }
        count -= 1  // a complete number literal ended before this byte
      }
    }
    return false
  }

  @inline(__always) private mutating func gap(_ f: inout JSONFrame, _ top: Int) -> Bool {
    guard f.ws < Self.maxGap else { return false }
    f.ws += 1
    set(top, f)
    return true
  }

  /// Starts a value of `node` with its first byte `c`, pushing its frame.
  private mutating func begin(_ node: Int32, _ c: UInt8, base: Int, choice: Int, choices: inout Int) -> Bool {
    let n = g.nodes[Int(node)]
    guard n.first.contains(c) else { return false }
    switch n.kind {
    case .union:
      var seen = 0
      var pick: Int32 = -1
      for k in Int(n.altLo)..<Int(n.altHi) where g.nodes[Int(g.alts[k])].first.contains(c) {
        if seen == choice { pick = g.alts[k] }
        seen += 1
      }
      choices = seen
      guard pick >= 0 else { return false }
      var one = 1
      return begin(pick, c, base: base, choice: 0, choices: &one)  // alternatives are never unions
    case .object, .array:
      if count >= (n.free ? Self.maxFreeDepth : Self.maxDepth) { return false }
      push(JSONFrame(kind: n.kind == .object ? .object : .array, node: node, b: -1, base: base))
    case .string:
      push(JSONFrame(kind: .string, node: node, base: base))
    case .number, .integer:
      var f = JSONFrame(kind: .number, node: node, base: base)
      f.state = c == UInt8(ascii: "-") ? NumberState.minus : c == UInt8(ascii: "0") ? NumberState.zero : NumberState.int
      f.a = f.state == NumberState.int ? 1 : 0
      push(f)
    case .literal:
      let ch = g.trie.child(n.litRoot, c)
      guard ch >= 0 else { return false }
      if g.trie.hasChildren(ch) { push(JSONFrame(kind: .literal, node: node, a: ch, base: base)) }
    }
    return true
  }

  private mutating func stepObject(_ c: UInt8, _ f: inout JSONFrame, _ top: Int, _ choice: Int, _ choices: inout Int) -> Bool {
    let n = g.nodes[Int(f.node)]
    let p = g.propCount(n)
    switch f.state {
    case ObjectState.start, ObjectState.afterComma:
      if Self.isSpace(c) { return gap(&f, top) }
      if c == UInt8(ascii: "\"") {
        // The key frame carries the rest of the object's cost while the name is being read.
        f.state = ObjectState.key
        f.ws = 0
        set(top, f)
        push(JSONFrame(kind: .key, node: f.node, a: n.keyRoot, b: 0, c: f.a, base: f.base))
        return true
      }
      if c == UInt8(ascii: "}"), f.state == ObjectState.start, g.firstRequired(n, Int(f.a)) == p {
        count -= 1
        return true
      }
      return false
    case ObjectState.colon:
      if Self.isSpace(c) { return gap(&f, top) }
      guard c == UInt8(ascii: ":") else { return false }
      f.state = ObjectState.value
      f.ws = 0
      set(top, f)
      return true
    case ObjectState.value:
      if Self.isSpace(c) { return gap(&f, top) }
      let value = f.b >= 0 ? g.props[Int(f.b)].node : n.additional
      if f.b >= 0 { f.a = f.b - n.propLo + 1 }
      f.state = ObjectState.afterValue
      f.ws = 0
      set(top, f)
      return begin(value, c, base: costAdd(f.base, g.tail(n, Int(f.a))), choice: choice, choices: &choices)
    case ObjectState.afterValue:
      if Self.isSpace(c) { return gap(&f, top) }
      if c == UInt8(ascii: ",") {
        guard g.afterComma(n, Int(f.a)) < costInfinity else { return false }
        f.state = ObjectState.afterComma
        f.ws = 0
        set(top, f)
        return true
      }
      guard c == UInt8(ascii: "}"), g.firstRequired(n, Int(f.a)) == p else { return false }
      count -= 1
      return true
    default:
      return false
    }
  }

  /// Whether global property `prop` may be the next member: at or after `next`, and not past
  /// a required property (properties come in schema order).
  @inline(__always) func isCandidate(_ prop: Int32, _ n: GrammarNode, next: Int) -> Bool {
    let local = Int(prop - n.propLo)
    return local >= next && local <= g.firstRequired(n, next)
  }

  func hasCandidate(_ t: Int32, _ n: GrammarNode, next: Int) -> Bool {
    for k in Int(g.trie.subLo[Int(t)])..<Int(g.trie.subHi[Int(t)]) where isCandidate(g.trie.subValues[k], n, next: next) {
      return true
    }
    return false
  }

  /// Moves a key along its trie; off every declared name it becomes free-form, if allowed.
  @inline(__always) private func follow(_ f: inout JSONFrame, _ c: UInt8, _ n: GrammarNode) -> Bool {
    guard f.a >= 0 else { return n.additional >= 0 }
    let ch = g.trie.child(f.a, c)
    if ch >= 0, n.additional >= 0 || hasCandidate(ch, n, next: Int(f.c)) {
      f.a = ch
      return true
    }
    f.a = -1
    return n.additional >= 0
  }

  private mutating func stepKey(_ c: UInt8, _ f: inout JSONFrame, _ top: Int) -> Bool {
    let n = g.nodes[Int(f.node)]
    if f.utf & 3 != 0 {
      guard Self.continues(f.utf, c), follow(&f, c, n) else { return false }
      f.utf = Self.afterContinuation(f.utf)
      set(top, f)
      return true
    }
    if f.state == StringState.escape {
      // Only declared names contain escapes (in their one canonical spelling).
      guard f.a >= 0 else { return false }
      let ch = g.trie.child(f.a, c)
      guard ch >= 0, hasCandidate(ch, n, next: Int(f.c)) else { return false }
      f.a = ch
      f.state = StringState.normal
      set(top, f)
      return true
    }
    switch c {
    case UInt8(ascii: "\""):
      var chosen: Int32 = -1
      if f.a >= 0, g.trie.terminal[Int(f.a)] >= 0 {
        // A declared name is that property (a skipped one may not come back as a free name).
        chosen = g.trie.terminal[Int(f.a)]
        guard isCandidate(chosen, n, next: Int(f.c)) else { return false }
      } else {
        guard n.additional >= 0 else { return false }
      }
      count -= 1
      var o = frames[top - 1]
      o.state = ObjectState.colon
      o.b = chosen
      o.ws = 0
      set(top - 1, o)
      return true
    case UInt8(ascii: "\\"):
      guard f.a >= 0 else { return false }
      let ch = g.trie.child(f.a, c)
      guard ch >= 0, hasCandidate(ch, n, next: Int(f.c)) else { return false }
      f.a = ch
      f.state = StringState.escape
      set(top, f)
      return true
    default:
      guard c >= 0x20, let u = Self.utfStart(c), Int(f.b) < g.keyCap, follow(&f, c, n) else { return false }
      f.b += 1
      f.utf = u
      set(top, f)
      return true
    }
  }

  private mutating func stepArray(_ c: UInt8, _ f: inout JSONFrame, _ top: Int, _ choice: Int, _ choices: inout Int) -> Bool {
    let n = g.nodes[Int(f.node)]
    if Self.isSpace(c) { return gap(&f, top) }
    switch f.state {
    case ArrayState.afterValue:
      if c == UInt8(ascii: ",") {
        guard Int(f.a) < n.maxItems else { return false }
        f.state = ArrayState.afterComma
        f.ws = 0
        set(top, f)
        return true
      }
      guard c == UInt8(ascii: "]"), Int(f.a) >= n.minItems else { return false }
      count -= 1
      return true
    default:
      if c == UInt8(ascii: "]"), f.state == ArrayState.start {
        guard n.minItems == 0 else { return false }
        count -= 1
        return true
      }
      guard Int(f.a) < n.maxItems else { return false }
      f.a += 1
      f.state = ArrayState.afterValue
      f.ws = 0
      set(top, f)
      return begin(n.items, c, base: costAdd(f.base, arrayAfterValue(n, Int(f.a))), choice: choice, choices: &choices)
    }
  }

  private mutating func stepString(_ c: UInt8, _ f: inout JSONFrame, _ top: Int) -> Bool {
    let n = g.nodes[Int(f.node)]
    switch f.state {
    case StringState.normal:
      if f.utf & 3 != 0 {
        guard Self.continues(f.utf, c) else { return false }
        f.utf = Self.afterContinuation(f.utf)
      } else if c == UInt8(ascii: "\"") {
        guard Int(f.a) >= n.minLength else { return false }
        count -= 1
        return true
      } else if c == UInt8(ascii: "\\") {
        guard Int(f.a) < n.maxLength else { return false }
        f.a += 1
        f.state = StringState.escape
      } else {
        guard c >= 0x20, let u = Self.utfStart(c), Int(f.a) < n.maxLength else { return false }
        f.a += 1
        f.utf = u
      }
    case StringState.escape:
      switch c {
      case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
        UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
        f.state = StringState.normal
      case UInt8(ascii: "u"):
        f.state = StringState.hex
        f.b = 0
        f.c = 0
      default: return false
      }
    case StringState.hex, StringState.lowHex:
      guard let d = Self.hexValue(c) else { return false }
      if f.state == StringState.lowHex {
        // The second half of a surrogate pair must be DC00-DFFF.
        if f.c == 0 && d != 0xD { return false }
        if f.c == 1 && d < 0xC { return false }
      } else if f.c == 1 && f.b == 0xD && d >= 0xC {
        return false  // a low surrogate without a high one before it
      }
      f.b = f.b << 4 | d
      f.c += 1
      if f.c == 4 {
        f.state = f.state == StringState.hex && (0xD800..<0xDC00).contains(f.b) ? StringState.lowBackslash : StringState.normal
      }
    case StringState.lowBackslash:
      guard c == UInt8(ascii: "\\") else { return false }
      f.state = StringState.lowU
    default:
      guard c == UInt8(ascii: "u") else { return false }
      f.state = StringState.lowHex
      f.b = 0
      f.c = 0
    }
    set(top, f)
    return true
  }

  /// 0: reject, 1: consumed, 2: the number ended before `c`.
  private func stepNumber(_ c: UInt8, _ f: inout JSONFrame) -> Int {
    let integer = g.nodes[Int(f.node)].kind == .integer
    let digit = c >= 0x30 && c <= 0x39
    let e = c == UInt8(ascii: "e") || c == UInt8(ascii: "E")
    switch f.state {
    case NumberState.minus:
      guard digit else { return 0 }
      f.state = c == 0x30 ? NumberState.zero : NumberState.int
      f.a = 1
    case NumberState.zero, NumberState.int:
      if digit && f.state == NumberState.int && f.a < Self.maxIntDigits {
        f.a += 1
      } else if !integer && c == UInt8(ascii: ".") {
        f.state = NumberState.dot
      } else if !integer && e {
        f.state = NumberState.expMark
      } else {
        return 2
      }
    case NumberState.dot:
      guard digit else { return 0 }
      f.state = NumberState.frac
      f.b = 1
    case NumberState.frac:
      if digit && f.b < Self.maxFracDigits { f.b += 1 } else if e { f.state = NumberState.expMark } else { return 2 }
    case NumberState.expMark, NumberState.expSign:
      if f.state == NumberState.expMark && (c == UInt8(ascii: "+") || c == UInt8(ascii: "-")) {
        f.state = NumberState.expSign
      } else {
        guard digit else { return 0 }
        f.state = NumberState.exp
        f.c = 1
      }
    default:
      guard digit && f.c < Self.maxExpDigits else { return 2 }
      f.c += 1
    }
    return 1
  }
}

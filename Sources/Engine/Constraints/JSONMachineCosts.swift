/// The automaton's costs (bytes of the shortest completion, which the token budget is checked
/// against) and its UTF-8 rules.
extension JSONMachine {
  @inline(__always) func arrayAfterValue(_ n: GrammarNode, _ items: Int) -> Int {
    let need = max(0, n.minItems - items)
    return need == 0 ? 1 : costAdd(costTimes(costAdd(g.nodes[Int(n.items)].minCost, 1), need), 1)
  }

  func ownCost(_ f: JSONFrame) -> Int {
    switch f.kind {
    case .doc:
      return f.state == 0 ? g.nodes[Int(g.root)].minCost : 0
    case .object:
      let n = g.nodes[Int(f.node)]
      let j = Int(f.a)
      switch f.state {
      case ObjectState.start: return g.firstRequired(n, j) == g.propCount(n) ? 1 : g.afterComma(n, j)
      case ObjectState.key: return 0
      case ObjectState.colon, ObjectState.value:
        let value = f.b >= 0 ? g.props[Int(f.b)].node : n.additional
        let tail = g.tail(n, f.b >= 0 ? Int(f.b - n.propLo) + 1 : j)
        return costAdd(costAdd(g.nodes[Int(value)].minCost, tail), f.state == ObjectState.colon ? 1 : 0)
      case ObjectState.afterValue: return g.tail(n, j)
      default: return g.afterComma(n, j)
      }
    case .key: return keyCost(f)
    case .array:
      let n = g.nodes[Int(f.node)]
      let item = g.nodes[Int(n.items)].minCost
      switch f.state {
      case ArrayState.start: return n.minItems == 0 ? 1 : costTimes(costAdd(item, 1), n.minItems)
      case ArrayState.afterValue: return arrayAfterValue(n, Int(f.a))
      default: return costAdd(item, arrayAfterValue(n, Int(f.a) + 1))
      }
    case .string:
      let n = g.nodes[Int(f.node)]
      let close = max(0, n.minLength - Int(f.a)) + 1
      switch f.state {
      case StringState.normal: return Int(f.utf & 3) + close
      case StringState.escape: return 1 + close
      case StringState.hex:
        let full = Int(f.b) << (4 * (4 - Int(f.c)))
        return 4 - Int(f.c) + (f.c >= 2 && (0xD800..<0xDC00).contains(full) ? 6 : 0) + close
      case StringState.lowBackslash: return 6 + close
      case StringState.lowU: return 5 + close
      default: return 4 - Int(f.c) + close
      }
    case .number:
      switch f.state {
      case NumberState.minus, NumberState.dot, NumberState.expMark, NumberState.expSign: return 1
      default: return 0
      }
    case .literal:
      return Int(g.trie.minToEnd[Int(f.a)])
    }
  }

  /// The rest of the name, the quote, the colon, the shortest value and the object's tail.
  func keyCost(_ f: JSONFrame) -> Int {
    let n = g.nodes[Int(f.node)]
    let next = Int(f.c)
    var best = costInfinity
    if f.a >= 0 {
      let depth = Int(g.trie.depth[Int(f.a)])
      for k in Int(g.trie.subLo[Int(f.a)])..<Int(g.trie.subHi[Int(f.a)]) {
        let p = g.trie.subValues[k]
        guard isCandidate(p, n, next: next) else { continue }
        let prop = g.props[Int(p)]
        let c = costAdd(prop.keyLength - depth + 2 + g.nodes[Int(prop.node)].minCost, g.tail(n, Int(p - n.propLo) + 1))
        best = min(best, c)
      }
    }
    if n.additional >= 0 && f.state == StringState.normal {
      // Free-form: finish the character; if the text so far is a declared name, one more.
      let pending = Int(f.utf & 3)
      let extra = f.a >= 0 && (pending > 0 || g.trie.terminal[Int(f.a)] >= 0) ? 1 : 0
      if extra == 0 || Int(f.b) < g.keyCap {
        best = min(best, costAdd(pending + extra + 2 + g.nodes[Int(n.additional)].minCost, g.tail(n, next)))
      }
    }
    return best
  }

  /// For a state between characters of a string or of a free-form name, the character counts a
  /// token of plain text may have (its effect depends on nothing else); nil for other states.
  func plainCharRange(remaining: Int) -> (lo: Int, hi: Int)? {
    let f = frames[count - 1]
    guard f.utf == 0, f.state == StringState.normal else { return nil }
    if f.kind == .string {
      let n = g.nodes[Int(f.node)]
      let slack = remaining - f.base - 1
      guard slack >= 0 else { return (1, 0) }
      return (max(1, n.minLength - Int(f.a) - slack), n.maxLength - Int(f.a))
    }
    guard f.kind == .key else { return nil }
    let n = g.nodes[Int(f.node)]
    guard n.additional >= 0, f.a < 0 || !g.trie.hasChildren(f.a) else { return nil }
    let after = costAdd(f.base, costAdd(2 + g.nodes[Int(n.additional)].minCost, g.tail(n, Int(f.c))))
    guard after <= remaining, after < costInfinity else { return (1, 0) }
    return (1, g.keyCap - Int(f.b))
  }

  // MARK: UTF-8

  /// The continuation state after lead byte `c` (0 for ASCII); nil if `c` cannot start a character.
  @inline(__always) static func utfStart(_ c: UInt8) -> UInt8? {
    switch c {
    case 0..<0x80: return 0
    case 0xC2...0xDF: return 1
    case 0xE0: return 2 | 1 << 2  // A0-BF next: no overlong forms
    case 0xED: return 2 | 2 << 2  // 80-9F next: no surrogates
    case 0xE1...0xEF: return 2
    case 0xF0: return 3 | 3 << 2  // 90-BF next
    case 0xF1...0xF3: return 3
    case 0xF4: return 3 | 4 << 2  // 80-8F next: nothing past U+10FFFF
    default: return nil
    }
  }

  @inline(__always) static func continues(_ utf: UInt8, _ c: UInt8) -> Bool {
    switch utf >> 2 {
    case 1: return c >= 0xA0 && c <= 0xBF
    case 2: return c >= 0x80 && c <= 0x9F
    case 3: return c >= 0x90 && c <= 0xBF
    case 4: return c >= 0x80 && c <= 0x8F
    default: return c >= 0x80 && c <= 0xBF
    }
  }

  @inline(__always) static func afterContinuation(_ utf: UInt8) -> UInt8 { (utf & 3) - 1 }

  @inline(__always) static func hexValue(_ c: UInt8) -> Int32? {
    switch c {
    case 0x30...0x39: return Int32(c - 0x30)
    case 0x61...0x66: return Int32(c - 0x61 + 10)
    case 0x41...0x46: return Int32(c - 0x41 + 10)
    default: return nil
    }
  }
}

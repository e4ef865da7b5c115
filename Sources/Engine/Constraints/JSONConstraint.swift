import Tokenizers

/// A constraint that can compute its whole allowed set faster than asking `allows` token by
/// token; the sampler uses it when it needs every allowed token.
public protocol TokenMasking: TokenConstraint {
  /// Sets mask[i] to 1 for every allowed token i and to 0 for the rest; returns how many are allowed.
  func fillMask(_ mask: UnsafeMutableBufferPointer<UInt8>, remaining: Int) -> Int
}

/// Restricts output to JSON valid for a JSONGrammar (json_object or json_schema), finishing
/// within the token budget. A token is allowed when all its bytes keep the output a prefix of a
/// valid document that can still be closed in the tokens left, counting one token per byte
/// (every byte the closing needs has a single-byte token: ConstraintVocabulary.check).
///
/// The state is a set of automaton "threads": usually one, more while anyOf alternatives that
/// begin alike are still undecided.
public final class JSONConstraint: TokenConstraint, TokenMasking {
  public let grammar: JSONGrammar
  let vocab: ConstraintVocabulary
  private var threads: [JSONMachine]
  /// Bytes some thread accepts next (ignoring the budget); a quick first test in `allows`.
  private var firstBytes: ByteSet?
  /// At most this many threads are kept; more only arise from pathological anyOf nesting, and
  /// dropping some keeps the output valid (just less varied).
  static let maxThreads = 32

  /// `vocabulary` must come from the tokenizer of the model that will be constrained.
  public init(grammar: JSONGrammar, vocabulary: ConstraintVocabulary) {
    self.grammar = grammar
    vocab = vocabulary
    threads = [JSONMachine(grammar: grammar)]
  }

  public var isComplete: Bool { threads.contains { $0.isComplete } }

  /// Bytes the output must still get: the shortest valid completion.
  public var bytesToClose: Int { threads.map { $0.cost() }.min() ?? costInfinity }

  public func allows(_ token: Int, remaining: Int) -> Bool {
    guard token >= 0, token < vocab.size else { return false }
    switch vocab.kinds[token] {
    case .text: break
    case .endOfGeneration: return isComplete
    case .never: return false
    }
    let bytes = vocab.tokenBytes(token)
    if firstBytes == nil { firstBytes = computeFirstBytes() }
    guard firstBytes!.contains(bytes[bytes.startIndex]) else { return false }
    for t in threads.indices where Self.viable(&threads[t], bytes, bytes.startIndex, remaining) { return true }
    return false
  }

  public func accept(_ token: Int) {
    firstBytes = nil
    guard token >= 0, token < vocab.size, vocab.kinds[token] == .text else { return }
    let bytes = vocab.tokenBytes(token)
    var next: [JSONMachine] = []
    for t in threads.indices { Self.advance(&threads[t], bytes, bytes.startIndex, into: &next) }
    // A token the constraint did not allow leaves no thread: nothing is allowed after it.
    threads = next
  }

  public func fillMask(_ mask: UnsafeMutableBufferPointer<UInt8>, remaining: Int) -> Int {
    guard mask.count == vocab.size else {
      // Logits padded beyond the tokenizer's vocabulary (or short of it): ask token by token.
      var n = 0
      for i in mask.indices {
        mask[i] = allows(i, remaining: remaining) ? 1 : 0
        n += Int(mask[i])
      }
      return n
    }
    let everyPlain = vocab.plainRange(lo: 0, hi: Int.max - 1)
    var copiedPlain = false
    if threads.count == 1, let r = threads[0].plainCharRange(remaining: remaining), vocab.plainRange(lo: r.lo, hi: r.hi) == everyPlain {
      // Inside a string with room for any plain token: one copy instead of a scatter.
      _ = mask.update(fromContentsOf: vocab.plainMask)
      copiedPlain = true
    }
    var n = copiedPlain ? everyPlain.count : 0
    if !copiedPlain { mask.update(repeating: 0) }
    if isComplete {
      for id in vocab.endOfGeneration { Self.allow(Int(id), mask, &n) }
    }
    for t in threads.indices {
      if let r = threads[t].plainCharRange(remaining: remaining) {
        // Inside a string: plain tokens only add characters, so their count decides.
        if !copiedPlain { for k in vocab.plainRange(lo: r.lo, hi: r.hi) { Self.allow(Int(vocab.plainIds[k]), mask, &n) } }
        Self.walk(vocab.nonPlain, 0, &threads[t], remaining, mask, &n)
      } else {
        Self.walk(vocab.all, 0, &threads[t], remaining, mask, &n)
      }
    }
    return n
  }

  @inline(__always) private static func allow(_ id: Int, _ mask: UnsafeMutableBufferPointer<UInt8>, _ n: inout Int) {
    if mask[id] == 0 {
      mask[id] = 1
      n += 1
    }
  }

  // MARK: the automaton over token bytes

  /// Whether `bytes[i...]` can follow the machine's state and leave a completion within `remaining`.
  private static func viable(_ m: inout JSONMachine, _ bytes: ArraySlice<UInt8>, _ i: Int, _ remaining: Int) -> Bool {
    if i == bytes.endIndex {
      let c = m.cost()
      return c < costInfinity && c <= remaining
    }
    var choices = 1
    var k = 0
    while k < choices {
      let mk = m.mark()
      let ok = m.step(bytes[i], choice: k, choices: &choices) && viable(&m, bytes, i + 1, remaining)
      m.undo(mk)
      if ok { return true }
      k += 1
    }
    return false
  }

  /// Every state `bytes[i...]` can lead to, appended to `out` without duplicates.
  private static func advance(_ m: inout JSONMachine, _ bytes: ArraySlice<UInt8>, _ i: Int, into out: inout [JSONMachine]) {
    if i == bytes.endIndex {
      guard m.cost() < costInfinity, out.count < maxThreads, !out.contains(where: { $0.sameState(as: m) }) else { return }
      out.append(m.settled())
      return
    }
    var choices = 1
    var k = 0
    while k < choices {
      let mk = m.mark()
      if m.step(bytes[i], choice: k, choices: &choices) { advance(&m, bytes, i + 1, into: &out) }
      m.undo(mk)
      k += 1
    }
  }

  private func computeFirstBytes() -> ByteSet {
    var set = ByteSet()
    for t in threads.indices {
      for b in 0...255 where !set.contains(UInt8(b)) {
        var choices = 1
        var k = 0
        while k < choices {
          let mk = threads[t].mark()
          let ok = threads[t].step(UInt8(b), choice: k, choices: &choices)
          threads[t].undo(mk)
          if ok { set.insert(UInt8(b)); break }
          k += 1
        }
      }
    }
    return set
  }

  /// Marks the allowed tokens below trie node `node`: each child byte is fed once for all the
  /// tokens that share it, and a rejected byte skips its whole subtree.
  private static func walk(
    _ trie: TokenTrie, _ node: Int, _ m: inout JSONMachine, _ remaining: Int, _ mask: UnsafeMutableBufferPointer<UInt8>, _ n: inout Int
  ) {
    var child = node + 1
    let end = Int(trie.end[node])
    while child < end {
      var choices = 1
      var k = 0
      while k < choices {
        let mk = m.mark()
        if m.step(trie.byte[child], choice: k, choices: &choices) {
          if trie.tokHi[child] > trie.tokLo[child] {
            let c = m.cost()
            if c < costInfinity && c <= remaining {
              for t in Int(trie.tokLo[child])..<Int(trie.tokHi[child]) { allow(Int(trie.ids[t]), mask, &n) }
            }
          }
          if Int(trie.end[child]) > child + 1 { walk(trie, child, &m, remaining, mask, &n) }
        }
        m.undo(mk)
        k += 1
      }
      child = Int(trie.end[child])
    }
  }

  // MARK: factories

  /// json_object: any JSON object.
  public static func objectFactory(tokenizer: any Tokenizer) throws(JSONSchemaError) -> ConstraintFactory {
    try factory(grammar: JSONGrammar.anyObject, tokenizer: tokenizer)
  }

  /// A compiled grammar for this tokenizer; throws when the vocabulary cannot guarantee it.
  public static func factory(grammar: JSONGrammar, tokenizer: any Tokenizer) throws(JSONSchemaError) -> ConstraintFactory {
    let v = ConstraintVocabulary.shared(for: tokenizer)
    try v.check(grammar)
    return { JSONConstraint(grammar: grammar, vocabulary: v) }
  }
}

/// json_schema response formats.
public enum JSONSchemaConstraint {
  /// Compiles `schemaJSON` (a JSON Schema, see docs/structured-output.md) for `tokenizer`.
  /// Errors are the caller's fault (HTTP 400 on `error.parameter`).
  public static func factory(schemaJSON: String, tokenizer: any Tokenizer) throws(JSONSchemaError) -> ConstraintFactory {
    try JSONConstraint.factory(grammar: JSONGrammar(schemaJSON: schemaJSON), tokenizer: tokenizer)
  }
}

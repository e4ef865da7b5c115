/// Why a schema (or a response-format request) cannot be honoured. The server answers these with
/// HTTP 400; `parameter` names the request field to blame.
public enum JSONSchemaError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidJSON(String)
  case unsupportedKeyword(String, at: String)
  case invalid(String, at: String)
  case unresolvedReference(String, at: String)
  /// A `$ref`/`anyOf` loop that never passes through an object or array, so it never ends.
  case recursiveReference(at: String)
  case rootNotObject
  /// No finite JSON value satisfies the schema (e.g. minLength > maxLength, or required recursion).
  case unsatisfiable
  case tooLarge(String)
  /// The tokenizer cannot spell some byte with a single token, so completion cannot be guaranteed.
  case vocabulary(String)
  case maxTokensTooSmall(needed: Int, given: Int)

  /// The OpenAI request parameter the error is about.
  public var parameter: String {
    if case .maxTokensTooSmall = self { return "max_tokens" }
    return "response_format.json_schema.schema"
  }

  public var description: String {
    switch self {
    case .invalidJSON(let m): return "the schema is not valid JSON: \(m)"
    case .unsupportedKeyword(let k, let at): return "unsupported schema keyword '\(k)' at \(at)"
    case .invalid(let m, let at): return "\(m) at \(at)"
    case .unresolvedReference(let r, let at): return "cannot resolve $ref '\(r)' at \(at) (only local refs like '#/$defs/name' are supported)"
    case .recursiveReference(let at): return "$ref/anyOf at \(at) refers to itself without an object or array in between"
    case .rootNotObject: return "the schema's root must be an object (type 'object')"
    case .unsatisfiable: return "no finite JSON value satisfies the schema"
    case .tooLarge(let m): return "the schema is too large: \(m)"
    case .vocabulary(let m): return "the model's vocabulary cannot guarantee valid JSON: \(m)"
    case .maxTokensTooSmall(let n, let g):
      return "max_tokens is \(g), but the shortest JSON output valid for this response_format needs \(n) tokens"
    }
  }
}

/// A set of byte values (256 bits).
struct ByteSet: Sendable, Equatable {
  var w: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)

  static func == (a: ByteSet, b: ByteSet) -> Bool { a.w == b.w }

  @inline(__always) func contains(_ b: UInt8) -> Bool {
    let bit = UInt64(1) << UInt64(b & 63)
    switch b >> 6 {
    case 0: return w.0 & bit != 0
    case 1: return w.1 & bit != 0
    case 2: return w.2 & bit != 0
    default: return w.3 & bit != 0
    }
  }

  mutating func insert(_ b: UInt8) {
    let bit = UInt64(1) << UInt64(b & 63)
    switch b >> 6 {
    case 0: w.0 |= bit
    case 1: w.1 |= bit
    case 2: w.2 |= bit
    default: w.3 |= bit
    }
  }

  mutating func formUnion(_ o: ByteSet) {
    w.0 |= o.w.0; w.1 |= o.w.1; w.2 |= o.w.2; w.3 |= o.w.3
  }
}

/// Costs are byte counts of the shortest completion; unreachable is "infinite".
let costInfinity = 1 << 40

@inline(__always) func costAdd(_ a: Int, _ b: Int) -> Int { min(a + b, costInfinity) }

@inline(__always) func costTimes(_ a: Int, _ n: Int) -> Int {
  if a >= costInfinity { return n == 0 ? 0 : costInfinity }
  let (r, o) = a.multipliedReportingOverflow(by: n)
  return o ? costInfinity : min(r, costInfinity)
}

/// One compiled schema node. Unions are flattened (their alternatives are never unions), and
/// `$ref` is resolved away, so stepping never follows chains.
struct GrammarNode: Sendable {
  enum Kind: UInt8, Sendable { case object, array, string, number, integer, literal, union }
  var kind: Kind
  /// Bytes a value of this node can start with.
  var first = ByteSet()
  /// Bytes in the shortest value.
  var minCost = costInfinity
  /// A free-form container (from `{}` or json_object): its nesting is capped, since no schema
  /// needs it and a scalar can always be chosen instead.
  var free = false
  // object: properties props[propLo..<propHi] (schema order), key trie, per-object cost table
  var propLo: Int32 = 0, propHi: Int32 = 0
  var additional: Int32 = -1
  var keyRoot: Int32 = -1
  var table: Int32 = 0
  // array
  var items: Int32 = -1
  var minItems = 0, maxItems = Int.max
  // string (maxLength always set: the default cap keeps strings from growing forever)
  var minLength = 0, maxLength = 0
  // literal: a trie of the allowed serialized values
  var litRoot: Int32 = -1
  // union: alternatives alts[altLo..<altHi]
  var altLo: Int32 = 0, altHi: Int32 = 0
}

struct GrammarProperty: Sendable {
  var name: String
  /// Bytes of the escaped name between the quotes.
  var keyLength: Int
  var node: Int32
  var required: Bool
}

/// Byte tries for property names and literal values, all in one pool. Node 0 is unused.
struct ByteTrie: Sendable {
  var edgeLo: [Int32] = [], edgeHi: [Int32] = []
  var edgeByte: [UInt8] = [], edgeNode: [Int32] = []
  /// The value ending here: a global property index for key tries, 0 for literals; -1 if none.
  var terminal: [Int32] = []
  var depth: [Int32] = []
  /// Bytes from here to the nearest terminal.
  var minToEnd: [Int32] = []
  /// Terminal values in the subtree, sorted: the properties a key prefix can still become.
  var subLo: [Int32] = [], subHi: [Int32] = [], subValues: [Int32] = []

  @inline(__always) func child(_ n: Int32, _ b: UInt8) -> Int32 {
    var e = Int(edgeLo[Int(n)])
    let end = Int(edgeHi[Int(n)])
    while e < end {
      if edgeByte[e] == b { return edgeNode[e] }
      e += 1
    }
    return -1
  }

  func hasChildren(_ n: Int32) -> Bool { edgeHi[Int(n)] > edgeLo[Int(n)] }
}

/// Builds a ByteTrie from inserted byte strings.
struct TrieBuilder {
  private var children: [[UInt8: Int32]] = [[:]]
  private var terminal: [Int32] = [-1]
  private var depth: [Int32] = [0]

  mutating func newRoot() -> Int32 {
    children.append([:]); terminal.append(-1); depth.append(0)
    return Int32(children.count - 1)
  }

  mutating func insert(_ bytes: [UInt8], root: Int32, value: Int32) {
    var n = root
    for b in bytes {
      if let c = children[Int(n)][b] { n = c; continue }
      children.append([:]); terminal.append(-1); depth.append(depth[Int(n)] + 1)
      let c = Int32(children.count - 1)
      children[Int(n)][b] = c
      n = c
    }
    if terminal[Int(n)] < 0 { terminal[Int(n)] = value }
  }

  var nodeCount: Int { children.count }

  func build() -> ByteTrie {
    var t = ByteTrie()
    let n = children.count
    t.terminal = terminal
    t.depth = depth
    t.edgeLo = [Int32](repeating: 0, count: n)
    t.edgeHi = [Int32](repeating: 0, count: n)
    for i in 0..<n {
      t.edgeLo[i] = Int32(t.edgeByte.count)
      for (b, c) in children[i].sorted(by: { $0.key < $1.key }) {
        t.edgeByte.append(b); t.edgeNode.append(c)
      }
      t.edgeHi[i] = Int32(t.edgeByte.count)
    }
    // Children always have larger ids than their parent, so one backward pass sees them first.
    t.minToEnd = [Int32](repeating: Int32.max, count: n)
    var subs = [[Int32]](repeating: [], count: n)
    for i in stride(from: n - 1, through: 0, by: -1) {
      var best: Int32 = terminal[i] >= 0 ? 0 : Int32.max
      var s: [Int32] = terminal[i] >= 0 ? [terminal[i]] : []
      for c in children[i].values {
        if t.minToEnd[Int(c)] < Int32.max { best = min(best, t.minToEnd[Int(c)] + 1) }
        s += subs[Int(c)]
      }
      t.minToEnd[i] = best
      subs[i] = s.sorted()
    }
    t.subLo = [Int32](repeating: 0, count: n)
    t.subHi = [Int32](repeating: 0, count: n)
    var flat: [Int32] = []
    for i in 0..<n {
      t.subLo[i] = Int32(flat.count)
      flat += subs[i]
      t.subHi[i] = Int32(flat.count)
    }
    t.subValues = flat
    return t
  }
}

/// A compiled response format: the JSON values a schema allows, as a graph the byte automaton
/// (JSONMachine) walks, with the shortest completion of every node precomputed so that output
/// can always be finished within the token budget. Immutable and shared by all sequences.
public final class JSONGrammar: Sendable {
  let nodes: [GrammarNode]
  let props: [GrammarProperty]
  let alts: [Int32]
  /// Per object, three runs of P+1 entries: tail cost, after-comma cost, first required index.
  let table: [Int]
  let trie: ByteTrie
  let root: Int32
  /// Longest property name a free-form key may have, in characters.
  let keyCap: Int
  /// Bytes that fixed names and enum values use: each must be a single token of the vocabulary.
  let literalBytes: ByteSet
  /// The smallest `max_tokens` that leaves room for a valid document (one byte per token).
  public let minimumTokens: Int

  /// Compiles a JSON Schema (the subset in docs/structured-output.md). `maxStringLength` caps
  /// strings whose schema sets no maxLength, so that no value can grow forever.
  public convenience init(schemaJSON: String, maxStringLength: Int = 8192) throws(JSONSchemaError) {
    let doc = try SchemaValue.parse(schemaJSON)
    var c = SchemaCompiler(document: doc, stringCap: maxStringLength)
    try self.init(c.compileRoot())
  }

  init(_ p: CompiledGrammar) {
    nodes = p.nodes
    props = p.props
    alts = p.alts
    table = p.table
    trie = p.trie
    root = p.root
    keyCap = p.keyCap
    literalBytes = p.literalBytes
    minimumTokens = p.nodes[Int(p.root)].minCost
  }

  /// json_object: any JSON object.
  public static let anyObject: JSONGrammar = {
    // A fixed, known-good schema: compiling it cannot fail.
    try! JSONGrammar(schemaJSON: #"{"type":"object"}"#)
  }()

  /// Refuses a budget too small for even the shortest valid document (checked before any work).
  public func checkBudget(maxTokens: Int) throws(JSONSchemaError) {
    guard maxTokens >= minimumTokens else { throw .maxTokensTooSmall(needed: minimumTokens, given: maxTokens) }
  }

  @inline(__always) func propCount(_ n: GrammarNode) -> Int { Int(n.propHi - n.propLo) }
  /// Shortest close of an object after a value, properties from `j` on still to come.
  @inline(__always) func tail(_ n: GrammarNode, _ j: Int) -> Int { table[Int(n.table) + j] }
  /// Shortest close of an object right after a comma (one more member must come).
  @inline(__always) func afterComma(_ n: GrammarNode, _ j: Int) -> Int { table[Int(n.table) + propCount(n) + 1 + j] }
  /// Index of the first required property at or after `j` (the property count if none).
  @inline(__always) func firstRequired(_ n: GrammarNode, _ j: Int) -> Int {
    table[Int(n.table) + 2 * (propCount(n) + 1) + j]
  }
}

/// What the compiler hands to JSONGrammar.
struct CompiledGrammar {
  var nodes: [GrammarNode]
  var props: [GrammarProperty]
  var alts: [Int32]
  var table: [Int]
  var trie: ByteTrie
  var root: Int32
  var keyCap: Int
  var literalBytes: ByteSet
}

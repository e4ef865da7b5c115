import Foundation

/// Turns a JSON Schema document into grammar nodes. Anything outside the supported subset is
/// refused with the keyword and where it is, rather than silently ignored: ignoring a keyword
/// would let the model produce output the caller's validator rejects.
struct SchemaCompiler {
  let document: SchemaValue
  let stringCap: Int
  private var nodes: [GrammarNode] = []
  private var paths: [String] = []
  private var props: [GrammarProperty] = []
  private var unionAlts: [Int32: [Int32]] = [:]
  private var builder = TrieBuilder()
  private var refIds: [String: Int32] = [:]
  private var anyId: Int32?
  private var literalBytes = ByteSet()
  private var literalTotal = 0
  private var longestName = 0
  /// Schemas (and $ref chains) being compiled inside one another: bounded, so that a hostile
  /// chain of references cannot exhaust a request thread's stack.
  private var depth = 0

  static let maxNodes = 20_000
  static let maxDepth = 128
  static let maxLiteralBytes = 1 << 20
  static let freeKeyCap = 128

  /// Keywords that describe but do not constrain.
  static let annotations: Set<String> = [
    "title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly",
  ]
  static let supported: Set<String> = [
    "type", "properties", "required", "additionalProperties", "items", "minItems", "maxItems", "enum", "const",
    "anyOf", "$defs", "definitions", "$ref", "minLength", "maxLength", "nullable",
  ]
  static let objectWords = ["properties", "required", "additionalProperties"]
  static let arrayWords = ["items", "minItems", "maxItems"]
  static let stringWords = ["minLength", "maxLength"]

  init(document: SchemaValue, stringCap: Int) {
    self.document = document
    self.stringCap = max(stringCap, 1)
  }

  mutating func compileRoot() throws(JSONSchemaError) -> CompiledGrammar {
    var root = try reference("#", at: "#")
    guard literalTotal <= Self.maxLiteralBytes else { throw .tooLarge("enum and const values exceed \(Self.maxLiteralBytes) bytes") }
    let leaves = try flattenUnions()
    var alts: [Int32] = []
    func resolved(_ id: Int32) -> Int32 {
      if nodes[Int(id)].kind == .union, let l = leaves[id], l.count == 1 { return l[0] }
      return id
    }
    for i in nodes.indices {
      if nodes[i].kind == .union {
        nodes[i].altLo = Int32(alts.count)
        alts += leaves[Int32(i)] ?? []
        nodes[i].altHi = Int32(alts.count)
      }
      if nodes[i].additional >= 0 { nodes[i].additional = resolved(nodes[i].additional) }
      if nodes[i].items >= 0 { nodes[i].items = resolved(nodes[i].items) }
    }
    for i in props.indices { props[i].node = resolved(props[i].node) }
    root = resolved(root)

    // Only objects may be the root (OpenAI's rule; it also makes the end of output unambiguous).
    let rootAlts = nodes[Int(root)].kind == .union ? Array(alts[Int(nodes[Int(root)].altLo)..<Int(nodes[Int(root)].altHi)]) : [root]
    let objectAlts = rootAlts.filter { a in
      let n = nodes[Int(a)]
      var brace = ByteSet()
      brace.insert(UInt8(ascii: "{"))
      return n.kind == .object || (n.kind == .literal && n.first == brace)
    }
    guard !objectAlts.isEmpty else { throw .rootNotObject }
    if objectAlts.count == 1 {
      root = objectAlts[0]
    } else if objectAlts.count != rootAlts.count {
      var u = GrammarNode(kind: .union)
      u.altLo = Int32(alts.count)
      alts += objectAlts
      u.altHi = Int32(alts.count)
      root = add(u, at: "#")
    }

    let trie = builder.build()
    var table: [Int] = []
    for i in nodes.indices where nodes[i].kind == .object {
      let p = Int(nodes[i].propHi - nodes[i].propLo)
      nodes[i].table = Int32(table.count)
      table += [Int](repeating: costInfinity, count: 2 * (p + 1))
      var first = [Int](repeating: p, count: p + 1)
      for j in stride(from: p - 1, through: 0, by: -1) {
        first[j] = props[Int(nodes[i].propLo) + j].required ? j : first[j + 1]
      }
      table += first
    }
    var g = CompiledGrammar(
      nodes: nodes, props: props, alts: alts, table: table, trie: trie, root: root,
      keyCap: max(Self.freeKeyCap, longestName), literalBytes: literalBytes)
    Self.computeCosts(&g)
    guard g.nodes[Int(root)].minCost < costInfinity else { throw .unsatisfiable }
    return g
  }

  private mutating func add(_ n: GrammarNode, at path: String) -> Int32 {
    nodes.append(n)
    paths.append(path)
    return Int32(nodes.count - 1)
  }

  /// A `$ref` target, compiled once however often it is referenced; recursion goes through a
  /// placeholder union that is filled once the target is compiled.
  private mutating func reference(_ pointer: String, at path: String) throws(JSONSchemaError) -> Int32 {
    if let id = refIds[pointer] { return id }
    guard pointer == "#" || pointer.hasPrefix("#/") else { throw .unresolvedReference(pointer, at: path) }
    var v = document
    for raw in pointer.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) where pointer != "#" {
      let token = raw.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
      switch v {
      case .object: guard let next = v[token] else { throw .unresolvedReference(pointer, at: path) }; v = next
      case .array(let items):
        guard let i = Int(token), i >= 0, i < items.count else { throw .unresolvedReference(pointer, at: path) }
        v = items[i]
      default: throw .unresolvedReference(pointer, at: path)
      }
    }
    let id = add(GrammarNode(kind: .union), at: pointer)
    refIds[pointer] = id
    unionAlts[id] = [try compile(v, at: pointer)]
    return id
  }

  private mutating func compile(_ v: SchemaValue, at path: String) throws(JSONSchemaError) -> Int32 {
    guard nodes.count < Self.maxNodes else { throw .tooLarge("more than \(Self.maxNodes) schema nodes") }
    guard depth < Self.maxDepth else { throw .tooLarge("schemas and $refs nested more than \(Self.maxDepth) deep at \(path)") }
    depth += 1
    defer { depth -= 1 }
    if case .bool(let b) = v { return b ? anyNode() : add(GrammarNode(kind: .union), at: path) }
    guard case .object(let members) = v else { throw .invalid("a schema must be an object or a boolean", at: path) }
    let keys = Set(members.map(\.key))
    for k in members.map(\.key) where !Self.annotations.contains(k) && !Self.supported.contains(k) {
      throw .unsupportedKeyword(k, at: path)
    }
    func onlyWith(_ main: String, _ allowed: Set<String>) throws(JSONSchemaError) {
      for k in keys where !Self.annotations.contains(k) && !allowed.contains(k) && k != main {
        throw .invalid("'\(k)' beside '\(main)' is not supported", at: path)
      }
    }
    let defs: Set<String> = ["$defs", "definitions"]
    var nullable = false
    if let n = v["nullable"] {
      guard case .bool(let b) = n else { throw .invalid("'nullable' must be a boolean", at: path) }
      nullable = b
    }

    if let r = v["$ref"] {
      try onlyWith("$ref", defs)
      guard case .string(let s) = r else { throw .invalid("'$ref' must be a string", at: path) }
      return try reference(s, at: path)
    }
    if let any = v["anyOf"] {
      try onlyWith("anyOf", defs.union(["nullable"]))
      guard case .array(let list) = any, !list.isEmpty else { throw .invalid("'anyOf' must be a non-empty array", at: path) }
      var ids: [Int32] = []
      for (i, s) in list.enumerated() { ids.append(try compile(s, at: "\(path)/anyOf/\(i)")) }
      if nullable { ids.append(literal([.null], at: path)) }
      return union(ids, at: path)
    }

    var types: [String]? = nil
    if let t = v["type"] {
      switch t {
      case .string(let s): types = [s]
      case .array(let list):
        types = []
        for x in list {
          guard case .string(let s) = x else { throw .invalid("'type' must be a string or an array of strings", at: path) }
          types!.append(s)
        }
        guard !types!.isEmpty else { throw .invalid("'type' must not be empty", at: path) }
      default: throw .invalid("'type' must be a string or an array of strings", at: path)
      }
      let known: Set<String> = ["object", "array", "string", "number", "integer", "boolean", "null"]
      for s in types! where !known.contains(s) { throw .invalid("unknown type '\(s)'", at: path) }
    }

    if v["enum"] != nil || v["const"] != nil {
      let main = v["enum"] != nil ? "enum" : "const"
      try onlyWith(main, defs.union(["type", "nullable"]))
      var values: [SchemaValue]
      if main == "enum" {
        guard case .array(let list) = v["enum"]!, !list.isEmpty else { throw .invalid("'enum' must be a non-empty array", at: path) }
        values = list
      } else {
        values = [v["const"]!]
      }
      if let types {
        values = values.filter { x in types.contains(where: { Self.matches(x, $0) }) }
        guard !values.isEmpty else { throw .invalid("no '\(main)' value has the schema's type", at: path) }
      }
      if nullable { values.append(.null) }
      return literal(values, at: path)
    }

    var kinds = types ?? []
    if types == nil {
      if Self.objectWords.contains(where: keys.contains) { kinds.append("object") }
      if Self.arrayWords.contains(where: keys.contains) { kinds.append("array") }
      if Self.stringWords.contains(where: keys.contains) { kinds.append("string") }
      if kinds.isEmpty { return anyNode() }
    }
    if nullable && !kinds.contains("null") { kinds.append("null") }
    if kinds.contains("number") { kinds.removeAll { $0 == "integer" } }  // number already allows integers
    var seen: Set<String> = []
    kinds = kinds.filter { seen.insert($0).inserted }
    var ids: [Int32] = []
    for k in kinds {
      switch k {
      case "object": ids.append(try object(v, at: path))
      case "array":
        var n = GrammarNode(kind: .array)
        n.first.insert(UInt8(ascii: "["))
        if let items = v["items"] {
          if case .array = items { throw .unsupportedKeyword("items (as an array)", at: path) }
          n.items = try compile(items, at: "\(path)/items")
        } else {
          n.items = anyNode()
        }
        n.minItems = try count(v, "minItems", at: path) ?? 0
        n.maxItems = try count(v, "maxItems", at: path) ?? Int.max
        ids.append(add(n, at: path))
      case "string":
        var n = GrammarNode(kind: .string)
        n.first.insert(UInt8(ascii: "\""))
        n.minLength = try count(v, "minLength", at: path) ?? 0
        n.maxLength = try count(v, "maxLength", at: path) ?? max(stringCap, n.minLength)
        ids.append(add(n, at: path))
      case "number", "integer": ids.append(number(integer: k == "integer", at: path))
      case "boolean": ids.append(literal([.bool(true), .bool(false)], at: path))
      default: ids.append(literal([.null], at: path))
      }
    }
    return ids.count == 1 ? ids[0] : union(ids, at: path)
  }

  private mutating func object(_ v: SchemaValue, at path: String) throws(JSONSchemaError) -> Int32 {
    var list: [GrammarProperty] = []
    if let p = v["properties"] {
      guard case .object(let members) = p else { throw .invalid("'properties' must be an object", at: path) }
      for m in members {
        let node = try compile(m.value, at: "\(path)/properties/\(m.key)")
        list.append(GrammarProperty(name: m.key, keyLength: SchemaValue.quoted(m.key).count - 2, node: node, required: false))
      }
    }
    if let r = v["required"] {
      guard case .array(let names) = r else { throw .invalid("'required' must be an array of strings", at: path) }
      for x in names {
        guard case .string(let s) = x else { throw .invalid("'required' must be an array of strings", at: path) }
        guard let i = list.firstIndex(where: { $0.name == s }) else {
          throw .invalid("required property '\(s)' is not in 'properties'", at: path)
        }
        list[i].required = true
      }
    }
    var additional: Int32 = -1
    switch v["additionalProperties"] {
    case nil, .bool(true)?: additional = anyNode()  // JSON Schema's default: other names are allowed
    case .bool(false)?: additional = -1
    case let s?: additional = try compile(s, at: "\(path)/additionalProperties")
    }
    return makeObject(list, additional: additional, free: false, at: path)
  }

  private mutating func makeObject(_ list: [GrammarProperty], additional: Int32, free: Bool, at path: String) -> Int32 {
    var n = GrammarNode(kind: .object)
    n.first.insert(UInt8(ascii: "{"))
    n.free = free
    n.additional = additional
    n.propLo = Int32(props.count)
    n.keyRoot = builder.newRoot()
    for (i, p) in list.enumerated() {
      let key = Array(SchemaValue.quoted(p.name).dropFirst().dropLast())
      builder.insert(key, root: n.keyRoot, value: Int32(props.count + i))
      for b in key { literalBytes.insert(b) }
      longestName = max(longestName, p.name.unicodeScalars.count)
    }
    props += list
    n.propHi = Int32(props.count)
    return add(n, at: path)
  }

  private mutating func number(integer: Bool, at path: String) -> Int32 {
    var n = GrammarNode(kind: integer ? .integer : .number)
    for b in Array("-0123456789".utf8) { n.first.insert(b) }
    return add(n, at: path)
  }

  private mutating func literal(_ values: [SchemaValue], at path: String) -> Int32 {
    var n = GrammarNode(kind: .literal)
    n.litRoot = builder.newRoot()
    for v in values {
      let bytes = v.serialized
      literalTotal += bytes.count
      builder.insert(bytes, root: n.litRoot, value: 0)
      n.first.insert(bytes[0])
      for b in bytes { literalBytes.insert(b) }
    }
    return add(n, at: path)
  }

  private mutating func union(_ ids: [Int32], at path: String) -> Int32 {
    let id = add(GrammarNode(kind: .union), at: path)
    unionAlts[id] = ids
    return id
  }

  /// Any JSON value (`{}`, `true`, json_object's members): objects, arrays, strings, numbers,
  /// true, false, null. Built once; its containers refer back to it.
  private mutating func anyNode() -> Int32 {
    if let anyId { return anyId }
    let u = add(GrammarNode(kind: .union), at: "(any value)")
    anyId = u
    let obj = makeObject([], additional: u, free: true, at: "(any object)")
    var arr = GrammarNode(kind: .array)
    arr.first.insert(UInt8(ascii: "["))
    arr.items = u
    arr.free = true
    let arrId = add(arr, at: "(any array)")
    var str = GrammarNode(kind: .string)
    str.first.insert(UInt8(ascii: "\""))
    str.maxLength = stringCap
    let strId = add(str, at: "(any string)")
    let num = number(integer: false, at: "(any number)")
    let lit = literal([.bool(true), .bool(false), .null], at: "(any literal)")
    unionAlts[u] = [obj, arrId, strId, num, lit]
    return u
  }

  /// The non-union alternatives of every union. A union reached again while it is being
  /// expanded loops without consuming a byte, so it is refused.
  private func flattenUnions() throws(JSONSchemaError) -> [Int32: [Int32]] {
    var done: [Int32: [Int32]] = [:]
    var active: Set<Int32> = []
    func leaves(_ u: Int32) throws(JSONSchemaError) -> [Int32] {
      if let d = done[u] { return d }
      guard active.insert(u).inserted else { throw .recursiveReference(at: paths[Int(u)]) }
      var out: [Int32] = []
      for a in unionAlts[u] ?? [] {
        for l in nodes[Int(a)].kind == .union ? try leaves(a) : [a] where !out.contains(l) { out.append(l) }
      }
      active.remove(u)
      done[u] = out
      return out
    }
    for i in nodes.indices where nodes[i].kind == .union { _ = try leaves(Int32(i)) }
    return done
  }

  private func count(_ v: SchemaValue, _ key: String, at path: String) throws(JSONSchemaError) -> Int? {
    guard let x = v[key] else { return nil }
    guard case .number(let t) = x, let d = Double(t), d >= 0, d.rounded() == d else {
      throw .invalid("'\(key)' must be a non-negative integer", at: path)
    }
    return d >= 1e9 ? 1_000_000_000 : Int(d)
  }

  static func matches(_ v: SchemaValue, _ type: String) -> Bool {
    switch (v, type) {
    case (.null, "null"), (.bool, "boolean"), (.string, "string"), (.array, "array"), (.object, "object"), (.number, "number"):
      return true
    case (.number(let t), "integer"):
      guard let d = Double(t) else { return false }
      return d.rounded() == d
    default: return false
    }
  }

  /// Shortest value of every node, by fixed-point iteration (schemas may recurse through
  /// `$ref`): costs start infinite and only fall, so the loop settles on the least solution.
  static func computeCosts(_ g: inout CompiledGrammar) {
    var changed = true
    var rounds = 0
    while changed && rounds <= g.nodes.count + 2 {
      changed = false
      rounds += 1
      for i in g.nodes.indices {
        let n = g.nodes[i]
        var c = costInfinity
        switch n.kind {
        case .number, .integer: c = 1
        case .string: c = n.minLength <= n.maxLength ? 2 + n.minLength : costInfinity
        case .literal: c = Int(g.trie.minToEnd[Int(n.litRoot)])
        case .union:
          for a in g.alts[Int(n.altLo)..<Int(n.altHi)] { c = min(c, g.nodes[Int(a)].minCost) }
        case .array:
          let item = g.nodes[Int(n.items)].minCost
          if n.minItems > n.maxItems { c = costInfinity } else if n.minItems == 0 { c = 2 } else {
            c = costAdd(costTimes(costAdd(item, 1), n.minItems), 1)
          }
        case .object: c = objectTables(&g, i)
        }
        if c < n.minCost { g.nodes[i].minCost = c; changed = true }
      }
    }
    // Drop union alternatives that can never finish, and record which bytes can start a union.
    for i in g.nodes.indices where g.nodes[i].kind == .union {
      var first = ByteSet()
      var kept: [Int32] = []
      for a in g.alts[Int(g.nodes[i].altLo)..<Int(g.nodes[i].altHi)] where g.nodes[Int(a)].minCost < costInfinity {
        kept.append(a)
        first.formUnion(g.nodes[Int(a)].first)
      }
      for (k, a) in kept.enumerated() { g.alts[Int(g.nodes[i].altLo) + k] = a }
      g.nodes[i].altHi = g.nodes[i].altLo + Int32(kept.count)
      g.nodes[i].first = first
    }
  }

  /// Fills an object's tail and after-comma costs (properties come in schema order, so the
  /// cheapest close emits just the required ones) and returns the object's own cost.
  private static func objectTables(_ g: inout CompiledGrammar, _ i: Int) -> Int {
    let n = g.nodes[i]
    let p = Int(n.propHi - n.propLo)
    let t = Int(n.table)
    var freeEntry = costInfinity
    if n.additional >= 0 {
      // "" (or one character, when a property is named "") + ':' + value + '}'.
      let keyMin = g.trie.terminal[Int(n.keyRoot)] >= 0 ? 3 : 2
      freeEntry = costAdd(keyMin + 2, g.nodes[Int(n.additional)].minCost)
    }
    var decl = costInfinity  // cheapest next member among the candidates from j
    g.table[t + p] = 1
    g.table[t + p + 1 + p] = freeEntry
    for j in stride(from: p - 1, through: 0, by: -1) {
      let prop = g.props[Int(n.propLo) + j]
      let entry = costAdd(costAdd(prop.keyLength + 3, g.nodes[Int(prop.node)].minCost), g.table[t + j + 1])
      decl = prop.required ? entry : min(entry, decl)
      let none = g.table[t + 2 * (p + 1) + j] == p
      g.table[t + j] = none ? 1 : costAdd(1, decl)
      g.table[t + p + 1 + j] = none ? min(decl, freeEntry) : decl
    }
    return 1 + (g.table[t + 2 * (p + 1)] == p ? 1 : g.table[t + p + 1])
  }
}

import Foundation
import GGUF
import Testing
import Tokenizers

@testable import Engine

/// A tokenizer whose tokens are the 256 single bytes, an end-of-generation marker (id 256) and
/// any extra pieces given, so that the constraint can be driven byte by byte in unit tests.
struct ByteTokenizer: Tokenizer {
  let pieces: [[UInt8]]
  static let eos = 256

  init(extra: [String] = [], dropping: Set<UInt8> = []) {
    var p = (0...255).map { dropping.contains(UInt8($0)) ? Array("<unused>".utf8) : [UInt8($0)] }
    p.append(Array("<eos>".utf8))
    p += extra.map { Array($0.utf8) }
    pieces = p
  }

  var vocabSize: Int { pieces.count }
  var bosId: Int? { nil }
  var eosId: Int? { Self.eos }
  var eogIds: Set<Int> { [Self.eos] }
  var addBos: Bool { false }
  var addEos: Bool { false }

  /// Longest match first, so multi-byte pieces are used where they fit.
  func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
    let b = Array(text.utf8)
    var out: [Int] = []
    var i = 0
    while i < b.count {
      var best = Int(b[i]), len = 1
      for (id, p) in pieces.enumerated() where id != Self.eos && p.count > len && i + p.count <= b.count {
        if Array(b[i..<i + p.count]) == p { best = id; len = p.count }
      }
      out.append(best)
      i += len
    }
    return out
  }

  func decode(_ ids: [Int], skipSpecial: Bool) -> String {
    String(decoding: ids.flatMap { skipSpecial && isSpecial($0) ? [] : tokenBytes($0) }, as: UTF8.self)
  }

  func tokenBytes(_ id: Int) -> [UInt8] { id >= 0 && id < pieces.count ? pieces[id] : [] }
  func tokenId(for text: String) -> Int? { pieces.firstIndex(of: Array(text.utf8)) }
  func isSpecial(_ id: Int) -> Bool { id == Self.eos }
}

/// Feeds `text` byte by byte (each as its single-byte token); nil if some byte is refused.
func feed(_ c: JSONConstraint, _ text: [UInt8]) -> JSONConstraint? {
  for b in text {
    guard c.allows(Int(b), remaining: .max) else { return nil }
    c.accept(Int(b))
  }
  return c
}

/// Whether the constraint accepts `text` as a complete document.
func accepts(_ g: JSONGrammar, _ text: [UInt8]) -> Bool {
  guard let c = feed(JSONConstraint(grammar: g, vocabulary: ConstraintVocabulary(tokenizer: ByteTokenizer())), text) else { return false }
  return c.isComplete
}

func accepts(_ g: JSONGrammar, _ text: String) -> Bool { accepts(g, Array(text.utf8)) }

func grammar(_ schema: String) throws -> JSONGrammar { try JSONGrammar(schemaJSON: schema) }

/// Foundation's parse of `bytes`, or nil when it is not JSON.
func parseJSON(_ bytes: [UInt8]) -> Any? {
  try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
}

/// An independent checker for the supported schema subset, over Foundation's parse of the
/// output: what the constraint produces must pass it.
struct SchemaChecker {
  let root: Any

  init(_ schema: String) throws {
    root = try JSONSerialization.jsonObject(with: Data(schema.utf8))
  }

  func errors(_ value: Any) -> [String] { check(value, root, "$") }

  static func kind(_ v: Any) -> String {
    switch v {
    case is NSNull: return "null"
    case is String: return "string"
    case is [Any]: return "array"
    case is [String: Any]: return "object"
    case let n as NSNumber: return String(describing: type(of: n)).contains("Boolean") ? "boolean" : "number"
    default: return "unknown"
    }
  }

  static func equal(_ a: Any, _ b: Any) -> Bool {
    let k = kind(a)
    guard k == kind(b) else { return false }
    switch k {
    case "null": return true
    case "string": return a as! String == b as! String
    case "boolean", "number": return (a as! NSNumber).doubleValue == (b as! NSNumber).doubleValue
    case "array":
      let x = a as! [Any], y = b as! [Any]
      return x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
    default:
      let x = a as! [String: Any], y = b as! [String: Any]
      return Set(x.keys) == Set(y.keys) && x.allSatisfy { equal($0.value, y[$0.key]!) }
    }
  }

  private func resolve(_ ref: String) -> Any? {
    var v: Any = root
    for part in ref.dropFirst(2).split(separator: "/") {
      guard let d = v as? [String: Any], let next = d[String(part)] else { return nil }
      v = next
    }
    return v
  }

  private func check(_ v: Any, _ schema: Any, _ path: String) -> [String] {
    if let b = schema as? Bool { return b ? [] : ["\(path): false schema"] }
    guard let s = schema as? [String: Any] else { return ["\(path): bad schema"] }
    if let ref = s["$ref"] as? String {
      guard let target = resolve(ref) else { return ["\(path): unresolved \(ref)"] }
      return check(v, target, path)
    }
    let nullable = s["nullable"] as? Bool ?? false
    if nullable && v is NSNull { return [] }
    if let any = s["anyOf"] as? [Any] {
      return any.contains(where: { check(v, $0, path).isEmpty }) ? [] : ["\(path): matches no anyOf branch"]
    }
    if let e = s["enum"] as? [Any], !e.contains(where: { Self.equal($0, v) }) { return ["\(path): not in enum"] }
    if let c = s["const"], !Self.equal(c, v) { return ["\(path): not the const"] }
    let k = Self.kind(v)
    if let t = s["type"] {
      let types = (t as? [String]) ?? [t as! String]
      let integral = k == "number" && (v as! NSNumber).doubleValue.rounded() == (v as! NSNumber).doubleValue
      guard types.contains(where: { $0 == k || ($0 == "integer" && integral) }) else { return ["\(path): \(k) is not \(types)"] }
    }
    var out: [String] = []
    switch k {
    case "object":
      let o = v as! [String: Any]
      let props = s["properties"] as? [String: Any] ?? [:]
      for r in s["required"] as? [String] ?? [] where o[r] == nil { out.append("\(path): missing \(r)") }
      for (key, value) in o {
        if let p = props[key] {
          out += check(value, p, "\(path).\(key)")
        } else if let extra = s["additionalProperties"] {
          out += check(value, extra, "\(path).\(key)")
        }
      }
    case "array":
      let a = v as! [Any]
      if let m = s["minItems"] as? Int, a.count < m { out.append("\(path): fewer than \(m) items") }
      if let m = s["maxItems"] as? Int, a.count > m { out.append("\(path): more than \(m) items") }
      if let items = s["items"] { for (i, x) in a.enumerated() { out += check(x, items, "\(path)[\(i)]") } }
    case "string":
      let n = (v as! String).unicodeScalars.count
      if let m = s["minLength"] as? Int, n < m { out.append("\(path): shorter than \(m)") }
      if let m = s["maxLength"] as? Int, n > m { out.append("\(path): longer than \(m)") }
    default: break
    }
    return out
  }
}

/// The real models (scripts/fetch-models, or $HEARTH_MODELS); a missing one fails the test.
func requireModel(_ name: String) -> String? {
  let path = RealModels.path(name)
  guard FileManager.default.fileExists(atPath: path) else {
    Issue.record("missing \(path): run scripts/fetch-models")
    return nil
  }
  return path
}

/// A real model's tokenizer, loaded once per test process.
func realTokenizer(_ name: String) throws -> (any Tokenizer)? {
  guard let path = requireModel(name) else { return nil }
  return try TokenizerCache.shared.get(path)
}

final class TokenizerCache: @unchecked Sendable {
  static let shared = TokenizerCache()
  private let lock = NSLock()
  private var loaded: [String: any Tokenizer] = [:]

  func get(_ path: String) throws -> any Tokenizer {
    lock.lock()
    defer { lock.unlock() }
    if let t = loaded[path] { return t }
    let t = try Tokenizers.load(from: GGUFFile(path: path))
    loaded[path] = t
    return t
  }
}

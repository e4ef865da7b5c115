import Foundation
import Tokenizers

/// The tokens of a vocabulary in pre-order of a byte trie, so that a walk tries each shared
/// prefix once and skips a whole subtree when the automaton rejects its first byte.
struct TokenTrie: Sendable {
  /// Per node (0 is the root): its byte, one past its subtree's last node, and its tokens
  /// ids[tokLo..<tokHi] (tokens whose bytes end exactly here).
  var byte: [UInt8] = [0]
  var end: [Int32] = [0]
  var tokLo: [Int32] = [0], tokHi: [Int32] = [0]
  var ids: [Int32] = []

  init() {}

  /// Builds from token ids and their bytes (each non-empty).
  init(_ tokens: [Int32], bytes: (Int32) -> ArraySlice<UInt8>) {
    let sorted = tokens.sorted { x, y in bytes(x).lexicographicallyPrecedes(bytes(y)) }
    ids = sorted
    var path: [Int32] = [0]
    var prev: ArraySlice<UInt8> = []
    for (k, id) in sorted.enumerated() {
      let s = bytes(id)
      var lcp = 0
      while lcp < prev.count, lcp < s.count, prev[prev.startIndex + lcp] == s[s.startIndex + lcp] { lcp += 1 }
      while path.count - 1 > lcp { end[Int(path.removeLast())] = Int32(byte.count) }
      for d in lcp..<s.count {
        byte.append(s[s.startIndex + d]); end.append(0); tokLo.append(0); tokHi.append(0)
        path.append(Int32(byte.count - 1))
      }
      let last = Int(path[path.count - 1])
      if tokHi[last] == tokLo[last] { tokLo[last] = Int32(k) }
      tokHi[last] = Int32(k + 1)
      prev = s
    }
    while let n = path.popLast() { end[Int(n)] = Int32(byte.count) }
  }

  var nodeCount: Int { byte.count }
}

/// What the JSON constraint precomputes about a tokenizer's vocabulary, once per model:
/// every token's bytes, which tokens may never appear in JSON output, a byte trie of all text
/// tokens, and the "plain" tokens (complete UTF-8 with no quote, backslash or control byte),
/// whose effect inside a string depends only on their length in characters.
public final class ConstraintVocabulary: Sendable {
  public let size: Int
  let bytes: [UInt8]
  let offsets: [Int32]
  enum Kind: UInt8, Sendable {
    case text
    /// Special or empty: never part of JSON output.
    case never
    case endOfGeneration
  }
  let kinds: [Kind]
  let endOfGeneration: [Int32]
  /// All text tokens.
  let all: TokenTrie
  /// Text tokens that are not plain.
  let nonPlain: TokenTrie
  /// Plain tokens sorted by character count; plainStart[k] is where count k begins.
  let plainIds: [Int32]
  let plainStart: [Int32]
  /// 1 for every plain token: copied whole when a string may take any of them (the usual case).
  let plainMask: [UInt8]
  /// Bytes that some text token spells alone.
  let singleBytes: ByteSet

  public init(tokenizer: any Tokenizer) {
    size = tokenizer.vocabSize
    var bytes: [UInt8] = []
    var offsets: [Int32] = [0]
    var kinds = [Kind](repeating: .never, count: size)
    var eog: [Int32] = []
    var text: [Int32] = [], rough: [Int32] = []
    var plain: [(id: Int32, chars: Int)] = []
    var single = ByteSet()
    for id in 0..<size {
      let b = tokenizer.tokenBytes(id)
      bytes += b
      offsets.append(Int32(bytes.count))
      if tokenizer.isEOG(id) {
        kinds[id] = .endOfGeneration
        eog.append(Int32(id))
      } else if !tokenizer.isSpecial(id) && !b.isEmpty {
        kinds[id] = .text
        text.append(Int32(id))
        if b.count == 1 { single.insert(b[0]) }
        if let chars = Self.plainCharacters(b) { plain.append((Int32(id), chars)) } else { rough.append(Int32(id)) }
      }
    }
    self.bytes = bytes
    self.offsets = offsets
    self.kinds = kinds
    endOfGeneration = eog
    singleBytes = single
    let slice = { (id: Int32) in bytes[Int(offsets[Int(id)])..<Int(offsets[Int(id) + 1])] }
    all = TokenTrie(text, bytes: slice)
    nonPlain = TokenTrie(rough, bytes: slice)
    plain.sort { $0.chars < $1.chars }
    plainIds = plain.map(\.id)
    let most = plain.last?.chars ?? 0
    var start = [Int32](repeating: Int32(plain.count), count: most + 2)
    for (i, p) in plain.enumerated().reversed() { start[p.chars] = Int32(i) }
    for k in stride(from: most, through: 0, by: -1) where start[k] > start[k + 1] { start[k] = start[k + 1] }
    plainStart = start
    var pm = [UInt8](repeating: 0, count: size)
    for p in plain { pm[Int(p.id)] = 1 }
    plainMask = pm
  }

  @inline(__always) func tokenBytes(_ id: Int) -> ArraySlice<UInt8> { bytes[Int(offsets[id])..<Int(offsets[id + 1])] }

  /// Plain tokens with between lo and hi characters, as a range of plainIds.
  func plainRange(lo: Int, hi: Int) -> Range<Int> {
    let top = plainStart.count - 1
    let a = Int(plainStart[min(max(lo, 0), top)])
    let b = hi < 0 ? a : Int(plainStart[min(hi + 1, top)])
    return a..<max(a, b)
  }

  /// Characters in `b` if it is plain text inside a JSON string, else nil.
  static func plainCharacters(_ b: [UInt8]) -> Int? {
    var chars = 0
    var pending: UInt8 = 0
    for c in b {
      if pending & 3 != 0 {
        guard JSONMachine.continues(pending, c) else { return nil }
        pending = JSONMachine.afterContinuation(pending)
        continue
      }
      guard c >= 0x20, c != UInt8(ascii: "\""), c != UInt8(ascii: "\\"), let u = JSONMachine.utfStart(c) else { return nil }
      pending = u
      chars += 1
    }
    return pending & 3 == 0 ? chars : nil
  }

  /// Refuses a grammar whose shortest completions need a byte no single token spells: the
  /// guarantee to finish within max_tokens counts one token per byte.
  func check(_ g: JSONGrammar) throws(JSONSchemaError) {
    var needed = g.literalBytes
    for b in UInt8(0x20)...UInt8(0x7E) { needed.insert(b) }
    for b in UInt8(0x80)...UInt8(0xBF) { needed.insert(b) }
    for b in 0...255 where needed.contains(UInt8(b)) && !singleBytes.contains(UInt8(b)) {
      throw .vocabulary(String(format: "no token spells the single byte 0x%02X", b))
    }
  }

  private static let cache = VocabularyCache()

  /// The vocabulary of `tokenizer`, built once per tokenizer instance (building walks the
  /// whole vocabulary: tens of milliseconds for 262k tokens, too slow per request).
  public static func shared(for tokenizer: any Tokenizer) -> ConstraintVocabulary {
    cache.get(tokenizer)
  }
}

/// A small cache keyed by tokenizer identity. Tokenizers that are not classes are rebuilt.
private final class VocabularyCache: @unchecked Sendable {
  private let lock = NSLock()
  private var entries: [(owner: Weak, vocabulary: ConstraintVocabulary)] = []

  private struct Weak { weak var object: AnyObject? }

  func get(_ tokenizer: any Tokenizer) -> ConstraintVocabulary {
    guard type(of: tokenizer) is AnyClass else { return ConstraintVocabulary(tokenizer: tokenizer) }
    let object = tokenizer as AnyObject
    lock.lock()
    entries.removeAll { $0.owner.object == nil }
    if let hit = entries.first(where: { $0.owner.object === object }) {
      lock.unlock()
      return hit.vocabulary
    }
    lock.unlock()
    let v = ConstraintVocabulary(tokenizer: tokenizer)
    lock.lock()
    defer { lock.unlock() }
    if let hit = entries.first(where: { $0.owner.object === object }) { return hit.vocabulary }
    entries.append((Weak(object: object), v))
    return v
  }
}

import Foundation
import GGUF

/// Byte-level BPE (`tokenizer.ggml.model = gpt2`): llama.cpp's `llm_tokenizer_bpe_session`.
///
/// Merges run on token ids rather than strings: every merge's halves and result are checked to be
/// tokens at load, so "the concatenated text is in the merge table" is the same as "this id pair
/// has a rank", and a merged symbol's text always has an id.
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
  let vocab: GGUFVocabulary
  let pre: PreTokenizer
  let ignoreMerges: Bool
  private let merges: MergeTable
  /// Token of each byte's one-character stand-in (-1: none).
  private let byteTokens: [Int32]
  private let cacheLock = NSLock()
  private var cache: [[UInt8]: [Int32]] = [:]
  private static let cacheLimit = 100_000

  public init(file: GGUFFile) throws(TokenizerError) {
    let preName: String?
    if let p = file.metadata["tokenizer.ggml.pre"] {
      guard let s = p.string else { throw .wrongMetadataType(key: "tokenizer.ggml.pre", expected: "a string") }
      preName = s
    } else {
      preName = nil
    }
    let config = try BPEPreConfig.forPre(preName)
    let v = try GGUFVocabulary(file: file, kind: .bpe, defaultAddBos: config.addBos, cleanSpaces: config.cleanSpaces)
    self.vocab = v
    pre = PreTokenizer(steps: config.steps)
    ignoreMerges = config.ignoreMerges

    let key = "tokenizer.ggml.merges"
    guard let mv = file.metadata[key] else { throw .missingMetadata(key: key) }
    guard let mergeTexts = mv.array?.strings else { throw .wrongMetadataType(key: key, expected: "an array of strings") }
    guard mergeTexts.count < Int(Int32.max) else { throw .lengthMismatch(key: key, expected: Int(Int32.max), found: mergeTexts.count) }
    merges = try MergeTable(mergeTexts, table: v.table)
    byteTokens = ByteLevel.byteToUTF8.map { v.table.lookup($0).map(Int32.init) ?? -1 }
  }

  public var vocabSize: Int { vocab.count }
  public var bosId: Int? { vocab.bos }
  public var eosId: Int? { vocab.eos }
  public var eogIds: Set<Int> { vocab.eog }
  public var addBos: Bool { vocab.addBos }
  public var addEos: Bool { vocab.addEos }

  public func tokenId(for text: String) -> Int? { vocab.table.lookup(text) }
  public func isSpecial(_ id: Int) -> Bool { vocab.isControl(id) }
  public func tokenBytes(_ id: Int) -> [UInt8] { vocab.piece(id, special: true) }
  public func decode(_ ids: [Int], skipSpecial: Bool) -> String { vocab.detokenize(ids, skipSpecial: skipSpecial) }

  public func encode(_ text: String, addSpecial: Bool, parseSpecial: Bool) -> [Int] {
    var out: [Int] = []
    if addSpecial && vocab.addBos, let bos = vocab.bos { out.append(bos) }
    var text = text
    text.withUTF8 { bytes in
      for fragment in vocab.splitter.split(bytes, parseSpecial: parseSpecial) {
        switch fragment {
        case .token(let id): out.append(id)
        case .text(let r): encodeText(UnsafeBufferPointer(rebasing: bytes[r]), into: &out)
        }
      }
    }
    if addSpecial && vocab.addEos, let eos = vocab.eos { out.append(eos) }
    return out
  }

  private func encodeText(_ bytes: UnsafeBufferPointer<UInt8>, into out: inout [Int]) {
    let (cps, offsets) = decodeUTF8(bytes)
    let pieces = cps.withUnsafeBufferPointer { pre.split($0) }
    for r in pieces {
      let word = UnsafeBufferPointer(rebasing: bytes[offsets[r.lowerBound]..<offsets[r.upperBound]])
      for id in ids(forWord: word) { out.append(Int(id)) }
    }
  }

  private func ids(forWord word: UnsafeBufferPointer<UInt8>) -> [Int32] {
    let key = Array(word)
    cacheLock.lock()
    let hit = cache[key]
    cacheLock.unlock()
    if let hit { return hit }
    let result = merge(word)
    cacheLock.lock()
    if cache.count >= Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
    cache[key] = result
    cacheLock.unlock()
    return result
  }

  private func merge(_ word: UnsafeBufferPointer<UInt8>) -> [Int32] {
    if ignoreMerges {
      var encoded: [UInt8] = []
      encoded.reserveCapacity(word.count * 2)
      for b in word { encoded.append(contentsOf: ByteLevel.byteToUTF8[Int(b)]) }
      if let id = vocab.table.lookup(encoded) { return [Int32(id)] }
    }
    let n = word.count
    guard n > 0 else { return [] }
    var ids = word.map { byteTokens[Int($0)] }
    var next = Array(1...n)
    var prev = Array(-1..<(n - 1))
    var alive = [Bool](repeating: true, count: n)
    next[n - 1] = -1
    var heap = MergeHeap()
    func push(_ l: Int, _ r: Int) {
      guard l >= 0, r >= 0, ids[l] >= 0, ids[r] >= 0, let m = merges.find(ids[l], ids[r]) else { return }
      heap.push(.init(rank: m.rank, left: Int32(l), right: Int32(r), leftId: ids[l], rightId: ids[r], result: m.result))
    }
    for i in 1..<n { push(i - 1, i) }
    while let top = heap.pop() {
      let l = Int(top.left), r = Int(top.right)
      guard alive[l], alive[r], ids[l] == top.leftId, ids[r] == top.rightId else { continue }
      ids[l] = top.result
      alive[r] = false
      next[l] = next[r]
      if next[r] >= 0 { prev[next[r]] = l }
      push(prev[l], l)
      push(l, next[l])
    }
    var out: [Int32] = []
    var i = 0
    while i >= 0 && i < n {
      // A byte with no stand-in token: llama.cpp looks its raw bytes up one by one and drops misses.
      if ids[i] >= 0 { out.append(ids[i]) }
      i = next[i]
    }
    return out
  }
}

/// Rank and result of each mergeable id pair, in an open-addressing table.
struct MergeTable: Sendable {
  /// Key and value side by side: one cache line per probe.
  private struct Slot { var key: UInt64, rank: Int32, result: Int32 }
  private var slots: [Slot]
  private let mask: Int

  init(_ texts: [String], table: TokenTable) throws(TokenizerError) {
    var cap = 16
    while cap < texts.count * 2 { cap <<= 1 }
    mask = cap - 1
    slots = [Slot](repeating: Slot(key: .max, rank: 0, result: 0), count: cap)
    // Halves and results are looked up straight from each string's UTF-8 (a scratch buffer
    // holds the concatenation): Qwen has 151k merges, and this is most of its load time.
    var scratch = [UInt8](repeating: 0, count: 1024)
    for (rank, text) in texts.enumerated() {
      var t = text
      var a = -1, b = -1, r = -1, problem = 0
      t.withUTF8 { u in
        var space = -1
        if u.count >= 3 {
          var k = 1
          while k < u.count { if u[k] == 0x20 { space = k; break }; k += 1 }
        }
        guard space > 0, space < u.count - 1, let base = u.baseAddress else { problem = 1; return }
        guard let x = table.lookup(base, space), let y = table.lookup(base + space + 1, u.count - space - 1) else { problem = 2; return }
        a = x
        b = y
        let n = u.count - 1
        if scratch.count < n { scratch = [UInt8](repeating: 0, count: n) }
        scratch.withUnsafeMutableBufferPointer { buf in
          buf.baseAddress!.update(from: base, count: space)
          (buf.baseAddress! + space).update(from: base + space + 1, count: n - space)
          r = table.lookup(UnsafePointer(buf.baseAddress!), n) ?? -1
        }
        if r < 0 { problem = 3 }
      }
      switch problem {
      case 1: throw .invalidMerge(index: rank, merge: text, reason: "no space separating two tokens")
      case 2: throw .invalidMerge(index: rank, merge: text, reason: "names a token that is not in the vocabulary")
      case 3: throw .invalidMerge(index: rank, merge: text, reason: "its result is not in the vocabulary")
      default: break
      }
      let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
      var h = Self.slot(key) & mask
      while slots[h].key != .max && slots[h].key != key { h = (h + 1) & mask }
      // The first occurrence of a pair keeps its rank, as with llama.cpp's map emplace.
      if slots[h].key == .max { slots[h] = Slot(key: key, rank: Int32(rank), result: Int32(r)) }
    }
  }

  @inline(__always) private static func slot(_ k: UInt64) -> Int {
    Int(truncatingIfNeeded: (k &* 0x9E37_79B9_7F4A_7C15) >> 20)
  }

  @inline(__always)
  func find(_ a: Int32, _ b: Int32) -> (rank: Int32, result: Int32)? {
    let key = UInt64(UInt32(a)) << 32 | UInt64(UInt32(b))
    var h = Self.slot(key) & mask
    while true {
      let s = slots[h]
      if s.key == key { return (s.rank, s.result) }
      if s.key == .max { return nil }
      h = (h + 1) & mask
    }
  }
}

/// Min-heap of candidate merges ordered by (rank, left position), llama.cpp's tie-break.
struct MergeHeap {
  struct Entry { let rank: Int32, left: Int32, right: Int32, leftId: Int32, rightId: Int32, result: Int32 }
  private var items: [Entry] = []

  @inline(__always) private static func less(_ a: Entry, _ b: Entry) -> Bool {
    a.rank != b.rank ? a.rank < b.rank : a.left < b.left
  }

  mutating func push(_ e: Entry) {
    items.append(e)
    var i = items.count - 1
    while i > 0 {
      let p = (i - 1) / 2
      guard Self.less(items[i], items[p]) else { break }
      items.swapAt(i, p)
      i = p
    }
  }

  mutating func pop() -> Entry? {
    guard let first = items.first else { return nil }
    let last = items.removeLast()
    if !items.isEmpty {
      items[0] = last
      var i = 0
      while true {
        let l = 2 * i + 1, r = l + 1
        var m = i
        if l < items.count && Self.less(items[l], items[m]) { m = l }
        if r < items.count && Self.less(items[r], items[m]) { m = r }
        if m == i { break }
        items.swapAt(i, m)
        i = m
      }
    }
    return first
  }
}

/// Code points of valid UTF-8 plus each one's byte offset (and the end offset last).
func decodeUTF8(_ b: UnsafeBufferPointer<UInt8>) -> ([UInt32], [Int]) {
  var cps: [UInt32] = []
  var offs: [Int] = []
  cps.reserveCapacity(b.count)
  offs.reserveCapacity(b.count + 1)
  var i = 0
  let n = b.count
  while i < n {
    offs.append(i)
    let c = b[i]
    var cp: UInt32, len: Int
    if c < 0x80 {
      cp = UInt32(c); len = 1
    } else if c < 0xE0 {
      cp = UInt32(c & 0x1F); len = 2
    } else if c < 0xF0 {
      cp = UInt32(c & 0x0F); len = 3
    } else {
      cp = UInt32(c & 0x07); len = 4
    }
    len = min(len, n - i)
    for k in 1..<max(len, 1) { cp = cp << 6 | UInt32(b[i + k] & 0x3F) }
    cps.append(cp)
    i += len
  }
  offs.append(n)
  return (cps, offs)
}

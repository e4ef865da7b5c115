import GGUF

/// SentencePiece-style BPE (`tokenizer.ggml.model = llama`, e.g. Gemma): llama.cpp's
/// `llm_tokenizer_spm_session`. Spaces become `▁`, adjacent symbols merge while their
/// concatenation is a token (highest score first), and leftover characters fall back to
/// `<0xXX>` byte tokens.
///
/// User-defined tokens (Gemma's runs of spaces, tabs and newlines) are split out of the text
/// before this runs, which is how whitespace runs end up as single tokens.
public final class SPMTokenizer: Tokenizer, @unchecked Sendable {
  let vocab: GGUFVocabulary
  /// Token standing for each raw byte when no token covers a character.
  private let byteTokens: [Int32]

  public init(file: GGUFFile) throws(TokenizerError) {
    let v = try GGUFVocabulary(file: file, kind: .spm)
    vocab = v
    byteTokens = (0..<256).map { b -> Int32 in
      let hex = Array("0123456789ABCDEF".utf8)
      let name: [UInt8] = [0x3C, 0x30, 0x78, hex[b >> 4], hex[b & 15], 0x3E]  // <0xXX>
      if let id = v.table.lookup(name) { return Int32(id) }
      if let id = v.table.lookup([UInt8(b)]) { return Int32(id) }
      // llama.cpp aborts here; an unknown token keeps malformed vocabularies usable.
      return Int32(v.unk ?? -1)
    }
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
    var isPrevSpecial = true
    var text = text
    text.withUTF8 { bytes in
      for fragment in vocab.splitter.split(bytes, parseSpecial: parseSpecial) {
        switch fragment {
        case .token(let id):
          out.append(id)
          isPrevSpecial = true
        case .text(let r):
          var escaped: [UInt8] = []
          escaped.reserveCapacity(r.count + 8)
          if vocab.addSpacePrefix && isPrevSpecial { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) }
          for b in bytes[r] {
            if b == 0x20 { escaped.append(contentsOf: [0xE2, 0x96, 0x81]) } else { escaped.append(b) }
          }
          tokenize(escaped, into: &out)
          isPrevSpecial = false
        }
      }
    }
    if addSpecial && vocab.addEos, let eos = vocab.eos { out.append(eos) }
    return out
  }

  private struct Symbol { var start: Int, n: Int, prev: Int, next: Int }

  private func tokenize(_ text: [UInt8], into out: inout [Int]) {
    guard !text.isEmpty else { return }
    text.withUnsafeBufferPointer { buf in
      let base = buf.baseAddress!
      var symbols: [Symbol] = []
      symbols.reserveCapacity(text.count)
      var offs = 0
      while offs < text.count {
        let len = min(utf8Length(text[offs]), text.count - offs)
        symbols.append(Symbol(start: offs, n: len, prev: symbols.count - 1, next: offs + len == text.count ? -1 : symbols.count + 1))
        offs += len
      }
      var queue = BigramHeap()
      func tryAdd(_ l: Int, _ r: Int) {
        guard l >= 0, r >= 0 else { return }
        let size = symbols[l].n + symbols[r].n
        guard let id = vocab.table.lookup(base + symbols[l].start, size) else { return }
        queue.push(.init(left: Int32(l), right: Int32(r), score: vocab.scores[id], size: Int32(size)))
      }
      for i in 1..<symbols.count { tryAdd(i - 1, i) }
      while let b = queue.pop() {
        let l = Int(b.left), r = Int(b.right)
        // Stale entries: one side already merged away or grown since the pair was queued.
        guard symbols[l].n != 0, symbols[r].n != 0, symbols[l].n + symbols[r].n == Int(b.size) else { continue }
        symbols[l].n += symbols[r].n
        symbols[r].n = 0
        symbols[l].next = symbols[r].next
        if symbols[r].next >= 0 { symbols[symbols[r].next].prev = l }
        tryAdd(symbols[l].prev, l)
        tryAdd(l, symbols[l].next)
      }
      var i = 0
      while i != -1 {
        let s = symbols[i]
        if let id = vocab.table.lookup(base + s.start, s.n) {
          out.append(id)
        } else {
          // Every merged symbol is a token, so only single characters get here.
          for k in 0..<s.n {
            let t = byteTokens[Int(text[s.start + k])]
            if t >= 0 { out.append(Int(t)) }
          }
        }
        i = s.next
      }
    }
  }
}

@inline(__always)
func utf8Length(_ lead: UInt8) -> Int {
  // llama.cpp's unicode_len_utf8: by the high nibble, continuation bytes count as 1.
  switch lead >> 4 {
  case 0xC, 0xD: return 2
  case 0xE: return 3
  case 0xF: return 4
  default: return 1
  }
}

/// Max-heap of candidate SPM merges: highest score first, then leftmost (llama.cpp's comparator).
struct BigramHeap {
  struct Entry { let left: Int32, right: Int32, score: Float, size: Int32 }
  private var items: [Entry] = []

  @inline(__always) private static func before(_ a: Entry, _ b: Entry) -> Bool {
    a.score != b.score ? a.score > b.score : a.left < b.left
  }

  mutating func push(_ e: Entry) {
    items.append(e)
    var i = items.count - 1
    while i > 0 {
      let p = (i - 1) / 2
      guard Self.before(items[i], items[p]) else { break }
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
        if l < items.count && Self.before(items[l], items[m]) { m = l }
        if r < items.count && Self.before(items[r], items[m]) { m = r }
        if m == i { break }
        items.swapAt(i, m)
        i = m
      }
    }
    return first
  }
}

/// Cuts special-token text out of raw input before the text itself is tokenized, with the
/// outcome of llama.cpp's `tokenizer_st_partition`.
///
/// llama.cpp takes the special tokens longest first and, for each, splits every remaining text
/// fragment at each leftmost non-overlapping occurrence. That is not leftmost-longest matching
/// (a longer token later in the text wins over a shorter overlapping one earlier), so this finds
/// every occurrence once, then grants them in llama.cpp's order: a match stands when none of its
/// bytes were already granted to a higher-priority (or earlier same-token) match.
struct SpecialTokenSplitter: Sendable {
  enum Fragment: Equatable { case text(Range<Int>), token(Int) }

  /// Priority of each special token: its position in llama.cpp's cache (length descending).
  private let rank: [Int: Int]
  /// Tokens that `parseSpecial: false` still splits out (user-defined ones).
  private let alwaysSplit: Set<Int>
  private let table: TokenTable
  /// Bit per byte value: some special token starts with it.
  private let firstByte: [Bool]
  /// Some special token is exactly this one byte.
  private let singleByte: [Int?]
  /// Distinct lengths (descending, >= 2) of special tokens starting with (b0, b1).
  private let lengths: [UInt16: [Int]]

  var isEmpty: Bool { rank.isEmpty }

  init(table: TokenTable, attrs: [TokenAttr]) {
    self.table = table
    var ids: [Int] = []
    for (i, a) in attrs.enumerated() where !a.isDisjoint(with: [.control, .userDefined, .unknown]) {
      ids.append(i)
    }
    ids.sort { table.length($0) != table.length($1) ? table.length($0) > table.length($1) : $0 < $1 }
    var rank: [Int: Int] = [:]
    var always = Set<Int>()
    var first = [Bool](repeating: false, count: 256)
    var single = [Int?](repeating: nil, count: 256)
    var lengthSets: [UInt16: Set<Int>] = [:]
    for (r, id) in ids.enumerated() {
      rank[id] = r
      if attrs[id].isDisjoint(with: [.control, .unknown]) { always.insert(id) }
      let b = table.bytes(id)
      first[Int(b[b.startIndex])] = true
      if b.count == 1 {
        single[Int(b[b.startIndex])] = id
      } else {
        let key = UInt16(b[b.startIndex]) << 8 | UInt16(b[b.startIndex + 1])
        lengthSets[key, default: []].insert(b.count)
      }
    }
    self.rank = rank
    alwaysSplit = always
    firstByte = first
    singleByte = single
    lengths = lengthSets.mapValues { $0.sorted(by: >) }
  }

  /// Fragments of `bytes` in order. Without `parseSpecial` only user-defined tokens split.
  func split(_ bytes: UnsafeBufferPointer<UInt8>, parseSpecial: Bool) -> [Fragment] {
    let n = bytes.count
    guard n > 0 else { return [] }
    guard !rank.isEmpty, let base = bytes.baseAddress else { return [.text(0..<n)] }

    var found: [(rank: Int, pos: Int, id: Int)] = []
    func consider(_ id: Int, at p: Int) {
      guard parseSpecial || alwaysSplit.contains(id), let r = rank[id] else { return }
      found.append((r, p, id))
    }
    for p in 0..<n where firstByte[Int(bytes[p])] {
      if let id = singleByte[Int(bytes[p])] { consider(id, at: p) }
      guard p + 1 < n, let lens = lengths[UInt16(bytes[p]) << 8 | UInt16(bytes[p + 1])] else { continue }
      for len in lens where p + len <= n {
        if let id = table.lookup(base + p, len) { consider(id, at: p) }
      }
    }
    guard !found.isEmpty else { return [.text(0..<n)] }
    found.sort { $0.rank != $1.rank ? $0.rank < $1.rank : $0.pos < $1.pos }

    var claimed = [Bool](repeating: false, count: n)
    var granted: [(pos: Int, id: Int)] = []
    for f in found {
      let end = f.pos + table.length(f.id)
      if claimed[f.pos..<end].contains(true) { continue }
      for i in f.pos..<end { claimed[i] = true }
      granted.append((f.pos, f.id))
    }
    granted.sort { $0.pos < $1.pos }

    var out: [Fragment] = []
    var cursor = 0
    for g in granted {
      if g.pos > cursor { out.append(.text(cursor..<g.pos)) }
      out.append(.token(g.id))
      cursor = g.pos + table.length(g.id)
    }
    if cursor < n { out.append(.text(cursor..<n)) }
    return out
  }
}

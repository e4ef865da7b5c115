/// Token texts packed into one byte buffer plus an open-addressing index over them.
///
/// Tokenizers look up many short byte slices of the input (bigrams, pieces); this lets them do so
/// straight from a pointer, with no String or Array built per lookup, and builds a 262k-entry
/// vocabulary in a few milliseconds.
struct TokenTable: Sendable {
  private(set) var storage: [UInt8] = []
  /// `offsets[i] ..< offsets[i + 1]` is token i's text.
  private(set) var offsets: [Int] = [0]
  /// `hash >> 32` in the high half (so most mismatches are rejected without touching the token
  /// bytes), `id + 1` in the low half; 0 is an empty slot.
  private var slots: [UInt64] = []
  private var mask = 0

  var count: Int { offsets.count - 1 }

  /// Builds the table; returns the first duplicate (earlier id, later id) instead when there is one.
  static func build(_ texts: [String]) -> Result<TokenTable, DuplicateToken> {
    var t = TokenTable()
    t.storage.reserveCapacity(texts.count * 8)
    t.offsets.reserveCapacity(texts.count + 1)
    for (i, s) in texts.enumerated() {
      if s.isEmpty {
        // llama.cpp renames empty tokens the same way, so ids and texts stay unique.
        t.storage.append(contentsOf: "[EMPTY_\(i)]".utf8)
      } else {
        t.storage.append(contentsOf: s.utf8)
      }
      t.offsets.append(t.storage.count)
    }
    if let dup = t.buildIndex() { return .failure(dup) }
    return .success(t)
  }

  struct DuplicateToken: Error { let first: Int, second: Int }

  private mutating func buildIndex() -> DuplicateToken? {
    var cap = 16
    while cap < count * 2 { cap <<= 1 }
    mask = cap - 1
    slots = [UInt64](repeating: 0, count: cap)
    let m = mask
    return storage.withUnsafeBufferPointer { st -> DuplicateToken? in
      offsets.withUnsafeBufferPointer { off -> DuplicateToken? in
        slots.withUnsafeMutableBufferPointer { sl -> DuplicateToken? in
          for id in 0..<(off.count - 1) {
            let a = off[id], n = off[id + 1] - a
            let h = Self.hash(st.baseAddress! + a, n)
            let tag = h & 0xFFFF_FFFF_0000_0000
            var i = Int(truncatingIfNeeded: h) & m
            while true {
              let slot = sl[i]
              if slot == 0 { sl[i] = tag | UInt64(id + 1); break }
              if slot & 0xFFFF_FFFF_0000_0000 == tag {
                let other = Int(slot & 0xFFFF_FFFF) - 1
                let b = off[other], bn = off[other + 1] - b
                if bn == n && memeq(st.baseAddress! + a, st.baseAddress! + b, n) {
                  return DuplicateToken(first: other, second: id)
                }
              }
              i = (i + 1) & m
            }
          }
          return nil
        }
      }
    }
  }

  @inline(__always)
  static func hash(_ p: UnsafePointer<UInt8>, _ n: Int) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for i in 0..<n { h = (h ^ UInt64(p[i])) &* 0x0000_0100_0000_01b3 }
    // Mixed so that both the low bits (slot) and the high bits (tag) are well spread.
    return (h ^ (h >> 29)) &* 0xBF58_476D_1CE4_E5B9
  }

  /// Id of the token whose text is the `n` bytes at `p`.
  @inline(__always)
  func lookup(_ p: UnsafePointer<UInt8>, _ n: Int) -> Int? {
    if n == 0 || slots.isEmpty { return nil }
    let h = Self.hash(p, n)
    let tag = h & 0xFFFF_FFFF_0000_0000
    return slots.withUnsafeBufferPointer { sl in
      var i = Int(truncatingIfNeeded: h) & mask
      while true {
        let slot = sl[i]
        if slot == 0 { return nil }
        if slot & 0xFFFF_FFFF_0000_0000 == tag {
          let id = Int(slot & 0xFFFF_FFFF) - 1
          let a = offsets[id]
          if offsets[id + 1] - a == n && storage.withUnsafeBufferPointer({ memeq(p, $0.baseAddress! + a, n) }) { return id }
        }
        i = (i + 1) & mask
      }
    }
  }

  func lookup(_ bytes: [UInt8]) -> Int? {
    bytes.withUnsafeBufferPointer { b in b.baseAddress.flatMap { lookup($0, b.count) } }
  }

  func lookup(_ text: String) -> Int? {
    var s = text
    return s.withUTF8 { b in b.baseAddress.flatMap { lookup($0, b.count) } }
  }

  func bytes(_ id: Int) -> ArraySlice<UInt8> {
    storage[Int(offsets[id])..<Int(offsets[id + 1])]
  }

  func length(_ id: Int) -> Int { Int(offsets[id + 1]) - Int(offsets[id]) }

  func text(_ id: Int) -> String { String(decoding: bytes(id), as: UTF8.self) }
}

@inline(__always)
func memeq(_ a: UnsafePointer<UInt8>, _ b: UnsafePointer<UInt8>, _ n: Int) -> Bool {
  for i in 0..<n where a[i] != b[i] { return false }
  return true
}

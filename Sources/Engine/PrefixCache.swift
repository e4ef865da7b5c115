import Models

/// Reuse of KV blocks between requests that share a prompt prefix (a system prompt, a chat
/// history). Only full blocks are cached, keyed by a chain over the scope (tenant) and the exact
/// token ids of every block up to and including this one, so two tenants never share a block
/// and a hit is always exact (the stored tokens are compared, not just the hash).
///
/// The cache holds one reference on each block it keeps; blocks only it references are
/// evictable, least recently used first.
final class PrefixCache {
  struct Entry {
    let block: Int32
    let parent: UInt64
    let scope: String
    let tokens: [Int]
    let depth: Int
    var lastUse: UInt64
  }

  private var entries: [UInt64: Entry] = [:]
  private var clock: UInt64 = 0
  let blockTokens: Int

  init(blockTokens: Int) { self.blockTokens = blockTokens }

  var count: Int { entries.count }

  private static func key(parent: UInt64, scope: String, tokens: ArraySlice<Int>) -> UInt64 {
    // FNV-1a over the parent key, the scope and the token ids.
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ x: UInt64) {
      var v = x
      for _ in 0..<8 {
        h ^= v & 0xff
        h = h &* 0x100_0000_01b3
        v >>= 8
      }
    }
    mix(parent)
    for b in scope.utf8 { mix(UInt64(b)) }
    mix(0xfeed)
    for t in tokens { mix(UInt64(bitPattern: Int64(t))) }
    return h
  }

  /// The longest cached run of full blocks that starts `tokens`, at most `limit` tokens long.
  func lookup(scope: String, tokens: [Int], limit: Int) -> (blocks: [Int32], tokens: Int) {
    clock += 1
    var blocks: [Int32] = []
    var parent: UInt64 = 0
    var n = 0
    while n + blockTokens <= min(limit, tokens.count) {
      let slice = tokens[n..<(n + blockTokens)]
      let k = Self.key(parent: parent, scope: scope, tokens: slice)
      guard var e = entries[k], e.parent == parent, e.scope == scope, e.tokens.elementsEqual(slice) else { break }
      e.lastUse = clock
      entries[k] = e
      blocks.append(e.block)
      parent = k
      n += blockTokens
    }
    return (blocks, n)
  }

  /// Caches the full blocks of `tokens` held by `blocks` (a sequence's block table) that are not
  /// cached yet; only the first `valid` tokens have their keys and values written.
  func insert(scope: String, tokens: [Int], blocks: [Int32], valid: Int, kv: KVCache) {
    clock += 1
    var parent: UInt64 = 0
    var n = 0
    var i = 0
    while n + blockTokens <= min(valid, tokens.count), i < blocks.count {
      let slice = tokens[n..<(n + blockTokens)]
      let k = Self.key(parent: parent, scope: scope, tokens: slice)
      if var e = entries[k] {
        guard e.parent == parent, e.scope == scope, e.tokens.elementsEqual(slice) else { return }  // a collision: stop here
        e.lastUse = clock
        entries[k] = e
      } else {
        entries[k] = Entry(block: blocks[i], parent: parent, scope: scope, tokens: Array(slice), depth: i, lastUse: clock)
        kv.retain([blocks[i]])
      }
      parent = k
      n += blockTokens
      i += 1
    }
  }

  /// Blocks that only the cache references (free for the taking).
  func evictableBlocks(_ kv: KVCache) -> Int {
    entries.values.reduce(0) { $0 + (kv.refCounts[Int($1.block)] == 1 ? 1 : 0) }
  }

  /// Frees at least `needed` blocks if it can, least recently used (deepest first on ties).
  @discardableResult
  func evict(_ needed: Int, kv: KVCache) -> Int {
    let candidates = entries.filter { kv.refCounts[Int($0.value.block)] == 1 }
      .sorted { $0.value.lastUse != $1.value.lastUse ? $0.value.lastUse < $1.value.lastUse : $0.value.depth > $1.value.depth }
    var freed = 0
    for (k, e) in candidates where freed < needed {
      entries[k] = nil
      kv.release([e.block])
      freed += 1
    }
    return freed
  }

  /// Drops every entry (and its references).
  func clear(_ kv: KVCache) {
    for e in entries.values { kv.release([e.block]) }
    entries.removeAll()
  }
}

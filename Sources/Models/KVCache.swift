import Kernels

/// Keys and values of every sequence, in a pool of fixed-size blocks (paged attention).
///
/// Layout per layer: `[kvHead][block][slot][headDim]`, so one head's keys for one block are
/// contiguous, and so are a head's consecutive blocks (the pool hands out blocks in order):
/// attention streams through one run of memory per head. (Blocks of all heads interleaved made
/// long-context decode read keys and values at ~0.6x the speed: a head's blocks were a few KB
/// apart, and the hardware prefetcher stops at page boundaries.) A sequence owns an ordered list of blocks;
/// blocks carry reference counts so that prefix caching can share them between sequences.
public final class KVCache: @unchecked Sendable {
  public let layers: Int
  public let kvHeads: Int
  public let headDim: Int
  public let blockTokens: Int
  public let blockCount: Int
  public let precision: KVPrecision

  /// Elements from one block of a head to the next.
  let blockStride: Int
  /// Elements from one head's blocks to the next head's.
  let headStride: Int
  let keys: [UnsafeMutableRawPointer]
  let values: [UnsafeMutableRawPointer]

  private var free: [Int32]
  public private(set) var refCounts: [Int32]
  private var tables: [Int: [Int32]] = [:]
  private var lengths: [Int: Int] = [:]
  private var nextSequence = 0

  public init(config: ModelConfig, blockTokens: Int = 32, maxTokens: Int, precision: KVPrecision = .f16) {
    layers = config.layers
    kvHeads = config.kvHeads
    headDim = config.headDim
    self.blockTokens = blockTokens
    self.precision = precision
    blockCount = max(1, (maxTokens + blockTokens - 1) / blockTokens)
    blockStride = blockTokens * headDim
    headStride = blockCount * blockStride
    let bytes = kvHeads * headStride * precision.bytes
    func zeroed() -> UnsafeMutableRawPointer {
      let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
      p.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)
      return p
    }
    keys = (0..<layers).map { _ in zeroed() }
    values = (0..<layers).map { _ in zeroed() }
    free = (0..<Int32(blockCount)).reversed().map { $0 }
    refCounts = [Int32](repeating: 0, count: blockCount)
  }

  deinit {
    for p in keys { p.deallocate() }
    for p in values { p.deallocate() }
  }

  /// Bytes of K and V storage for one token across all layers.
  public var bytesPerToken: Int { Self.bytesPerToken(layers: layers, kvHeads: kvHeads, headDim: headDim, precision: precision) }

  public static func bytesPerToken(layers: Int, kvHeads: Int, headDim: Int, precision: KVPrecision) -> Int {
    layers * kvHeads * headDim * 2 * precision.bytes
  }
  public var totalBytes: Int { blockCount * blockTokens * bytesPerToken }
  public var freeBlocks: Int { free.count }
  public var usedBlocks: Int { blockCount - free.count }
  public var capacityTokens: Int { blockCount * blockTokens }

  // MARK: - Sequences

  public func createSequence() -> Int {
    let id = nextSequence
    nextSequence += 1
    tables[id] = []
    lengths[id] = 0
    return id
  }

  public func length(of seq: Int) -> Int { lengths[seq] ?? 0 }
  public func blocks(of seq: Int) -> [Int32] { tables[seq] ?? [] }

  /// Blocks needed to hold `tokens` positions.
  public func blocksFor(tokens: Int) -> Int { (tokens + blockTokens - 1) / blockTokens }

  /// Makes room for positions `0..<length` of `seq`. Throws (and allocates nothing) when the pool is short.
  public func reserve(_ seq: Int, length: Int) throws(ModelError) {
    guard var table = tables[seq] else { throw .badPosition(length) }
    let need = blocksFor(tokens: length) - table.count
    if need <= 0 { return }
    guard need <= free.count else { throw .outOfCache(needed: need, available: free.count) }
    for _ in 0..<need {
      let b = free.removeLast()
      refCounts[Int(b)] = 1
      table.append(b)
    }
    tables[seq] = table
  }

  /// Records that positions `0..<length` of `seq` now hold valid keys and values.
  public func setLength(_ seq: Int, _ length: Int) { lengths[seq] = length }

  /// Appends already-filled shared blocks (a cached prefix) to an empty sequence.
  public func adopt(_ seq: Int, blocks shared: [Int32], length: Int) {
    for b in shared { refCounts[Int(b)] += 1 }
    tables[seq, default: []] += shared
    lengths[seq] = length
  }

  /// Takes an extra reference on blocks (a prefix cache holding them).
  public func retain(_ blocks: [Int32]) { for b in blocks { refCounts[Int(b)] += 1 } }

  /// Drops references; a block returns to the pool when none remain.
  public func release(_ blocks: [Int32]) {
    for b in blocks {
      refCounts[Int(b)] -= 1
      if refCounts[Int(b)] == 0 { free.append(b) }
    }
  }

  /// Frees a sequence's blocks (those not shared) and forgets it.
  public func removeSequence(_ seq: Int) {
    guard let table = tables.removeValue(forKey: seq) else { return }
    lengths[seq] = nil
    release(table)
  }

  /// Drops the positions from `length` on (keeping whole blocks that still hold earlier positions).
  public func truncate(_ seq: Int, to length: Int) {
    guard var table = tables[seq] else { return }
    let keep = blocksFor(tokens: length)
    if keep < table.count {
      release(Array(table[keep...]))
      table.removeLast(table.count - keep)
      tables[seq] = table
    }
    lengths[seq] = min(lengths[seq] ?? 0, length)
  }

  // MARK: - Addressing

  /// Start of `head`'s key (or value) rows in `block` of `layer`.
  @inline(__always)
  func keyBlock(_ layer: Int, _ block: Int32, _ head: Int) -> UnsafeMutableRawPointer {
    keys[layer] + (head * headStride + Int(block) * blockStride) * precision.bytes
  }

  @inline(__always)
  func valueBlock(_ layer: Int, _ block: Int32, _ head: Int) -> UnsafeMutableRawPointer {
    values[layer] + (head * headStride + Int(block) * blockStride) * precision.bytes
  }

  /// `head`'s key (or value) rows of block 0 in `layer`: what attention takes, with `blockStride`.
  func headKeys(_ layer: Int, _ head: Int) -> UnsafeRawPointer { UnsafeRawPointer(keyBlock(layer, 0, head)) }
  func headValues(_ layer: Int, _ head: Int) -> UnsafeRawPointer { UnsafeRawPointer(valueBlock(layer, 0, head)) }
}

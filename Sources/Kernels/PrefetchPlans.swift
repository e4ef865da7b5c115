/// What the pool's threads prefetch while they wait, learned from the order of decode matmuls.
/// A forward pass runs the same matmuls in the same order every token, so the group that came
/// after group K last time is the one that will come after it now: while K runs (and through the
/// attention and the single-threaded steps after it), each thread prefetches its first run of
/// that next group. Decode is bound by memory bandwidth, and a waiting thread otherwise leaves its
/// share of it unused (docs/performance.md).
///
/// Keys are the first weight byte of a group; a small open-addressing table, allocated once.
final class PrefetchPlans {
  /// Groups remembered; a model has 4-5 per layer.
  static let capacity = 1024
  /// The most one thread prefetches: L2 is 1-2 MB a core, and the data must still be there
  /// when the next matmul starts.
  static let maxBytes = 512 << 10

  let threads: Int
  private let keys: UnsafeMutablePointer<UnsafeRawPointer?>
  private let known: UnsafeMutablePointer<Bool>
  private let pointers: UnsafeMutablePointer<UnsafeRawPointer?>  // capacity x threads
  private let bytes: UnsafeMutablePointer<Int>  // capacity x threads
  /// The slot of the group dispatched last, which learns that the next group follows it.
  private var last: Int?

  init(threads: Int) {
    self.threads = threads
    keys = .allocate(capacity: Self.capacity)
    keys.initialize(repeating: nil, count: Self.capacity)
    known = .allocate(capacity: Self.capacity)
    known.initialize(repeating: false, count: Self.capacity)
    pointers = .allocate(capacity: Self.capacity * threads)
    pointers.initialize(repeating: nil, count: Self.capacity * threads)
    bytes = .allocate(capacity: Self.capacity * threads)
    bytes.initialize(repeating: 0, count: Self.capacity * threads)
  }

  deinit {
    keys.deallocate()
    known.deallocate()
    pointers.deallocate()
    bytes.deallocate()
  }

  /// The slot of `key`, claimed if new; nil when the table is full.
  private func slot(_ key: UnsafeRawPointer) -> Int? {
    var i = Int((UInt(bitPattern: key) >> 6) % UInt(Self.capacity))
    for _ in 0..<Self.capacity {
      if keys[i] == key { return i }
      if keys[i] == nil {
        keys[i] = key
        return i
      }
      i = (i + 1) % Self.capacity
    }
    return nil
  }

  /// What thread t prefetches while group `key` runs, once learned (for tests).
  func planned(after key: UnsafeRawPointer) -> [(UnsafeRawPointer?, Int)]? {
    guard let i = slot(key), known[i] else { return nil }
    return (0..<threads).map { (UnsafeRawPointer(pointers[i * threads + $0]), bytes[i * threads + $0]) }
  }

  /// Called as a decode group starts: teaches the previous group that this one (whose thread t
  /// starts with `range(t)`) follows it, and tells the pool what to prefetch while this one runs.
  func dispatch(key: UnsafeRawPointer, pool: ThreadPool, range: (Int) -> (UnsafeRawPointer, Int)) {
    let current = slot(key)
    if let previous = last, previous != current {
      for t in 0..<threads {
        let (p, n) = range(t)
        pointers[previous * threads + t] = p
        bytes[previous * threads + t] = max(0, min(n, Self.maxBytes))
      }
      known[previous] = true
    }
    last = current
    if let current, known[current] {
      pool.prefetch(pointers: UnsafePointer(pointers + current * threads), bytes: UnsafePointer(bytes + current * threads))
    } else {
      pool.prefetch(pointers: nil, bytes: nil)
    }
  }
}

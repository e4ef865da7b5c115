import CKernels

/// A persistent pool of threads for the kernels: `threads - 1` pthreads plus the calling thread.
/// Dispatch allocates nothing and wakes spinning workers in well under a microsecond; idle
/// workers sleep after a short spin. One `run` at a time (it is not reentrant).
public final class ThreadPool: @unchecked Sendable {
  private let pool: OpaquePointer

  /// All threads that run tasks, the caller included.
  public let threads: Int

  public init(threads: Int) {
    guard let p = hk_pool_create(Int32(max(1, threads))) else { fatalError("ThreadPool: out of memory") }
    pool = p
    self.threads = Int(hk_pool_threads(pool))
  }

  deinit { hk_pool_destroy(pool) }

  /// What each thread prefetches while it waits, from now on: thread i the `bytes[i]` bytes from
  /// `pointers[i]` (`threads` entries each), or nothing when `pointers` is nil. The pool copies
  /// them; call between runs, from the thread that calls `run`.
  public func prefetch(pointers: UnsafePointer<UnsafeRawPointer?>?, bytes: UnsafePointer<Int>?) {
    if threads > 1 { hk_pool_prefetch(pool, pointers, bytes) }
  }

  /// Calls `body(task)` once for every task in 0..<tasks, spread over the threads (the caller
  /// takes part), and returns when all have returned.
  public func run(tasks: Int, _ body: (Int) -> Void) {
    run(tasks: tasks) { task, _ in body(task) }
  }

  /// As `run(tasks:_:)`, also passing the index (0..<threads) of the thread running the task, so
  /// that tasks can use per-thread scratch. Thread 0 is the caller.
  public func run(tasks: Int, _ body: (_ task: Int, _ thread: Int) -> Void) {
    if tasks <= 0 { return }
    if threads == 1 || tasks == 1 {
      for i in 0..<tasks { body(i, 0) }
      return
    }
    withoutActuallyEscaping(body) { escapable in
      var fn = escapable
      withUnsafeMutablePointer(to: &fn) { ctx in
        hk_pool_run(pool, Int32(tasks), { ctx, task, thread in
          ctx!.assumingMemoryBound(to: ((Int, Int) -> Void).self).pointee(Int(task), Int(thread))
        }, ctx)
      }
    }
  }
}

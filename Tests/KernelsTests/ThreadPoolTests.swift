import Foundation
import Kernels
import Testing

@Suite struct ThreadPoolTests {
  @Test(arguments: [1, 2, 3, 8])
  func everyTaskRunsOnce(_ threads: Int) {
    let pool = ThreadPool(threads: threads)
    #expect(pool.threads == threads)
    for tasks in [0, 1, 2, 5, 64, 1000] {
      let counts = UnsafeMutablePointer<Int>.allocate(capacity: max(tasks, 1))
      counts.initialize(repeating: 0, count: max(tasks, 1))
      defer { counts.deallocate() }
      let threadOK = UnsafeMutablePointer<Bool>.allocate(capacity: 1)
      threadOK.initialize(to: true)
      defer { threadOK.deallocate() }
      pool.run(tasks: tasks) { task, thread in
        counts[task] += 1  // each index is handed out once, so no two threads share a slot
        if thread < 0 || thread >= threads { threadOK.pointee = false }
      }
      for i in 0..<tasks { #expect(counts[i] == 1, "threads \(threads) tasks \(tasks) index \(i)") }
      #expect(threadOK.pointee)
    }
  }

  @Test func manyDispatchesAndSleepingWorkers() {
    let pool = ThreadPool(threads: 2)
    let sum = UnsafeMutablePointer<Int>.allocate(capacity: 64)
    defer { sum.deallocate() }
    for round in 0..<3000 {
      sum.initialize(repeating: 0, count: 64)
      pool.run(tasks: 64) { task in sum[task] = task }
      var s = 0
      for i in 0..<64 { s += sum[i] }
      #expect(s == 64 * 63 / 2)
      // Now and then let the workers fall asleep, so the wake-up path runs too.
      if round % 1000 == 999 { usleep(20_000) }
    }
  }

  /// Pools created and dropped at once: a stop posted before a worker first runs must still
  /// reach it (this once deadlocked in pthread_join).
  @Test func createAndDestroyQuickly() {
    for i in 0..<300 {
      let pool = ThreadPool(threads: 2 + i % 3)
      if i % 2 == 0 { pool.run(tasks: 3) { _ in } }
    }
  }

  @Test func workIsShared() {
    let pool = ThreadPool(threads: 2)
    let seen = UnsafeMutablePointer<Int>.allocate(capacity: 2)
    seen.initialize(repeating: 0, count: 2)
    defer { seen.deallocate() }
    // Slow tasks: both threads must take some.
    pool.run(tasks: 40) { _, thread in
      usleep(1000)
      seen[thread] += 1
    }
    #expect(seen[0] + seen[1] == 40)
    #expect(seen[0] > 0 && seen[1] > 0)
  }
}

import Foundation
import Models
import Tokenizers

/// Timings and outcomes of requests, reported from the engine thread (the server turns them
/// into Prometheus metrics; tests can count them).
public protocol EngineObserver: AnyObject, Sendable {
  func queued(seconds: Double)
  func firstToken(seconds: Double)
  func interToken(seconds: Double)
  func finished(reason: FinishReason, promptTokens: Int, completionTokens: Int, seconds: Double)
  func failed(reason: String)
  func prefixCache(queries: Int, hits: Int)
}

/// A point-in-time view of one engine, safe to read from any thread.
public struct EngineStats: Sendable, Equatable {
  public var running = 0
  public var waiting = 0
  public var kvUsage = 0.0
  public var kvBlocksUsed = 0
  public var kvBlocksTotal = 0
}

public enum EngineServiceError: Error, Sendable, Equatable {
  /// The queue is full; retry after the given seconds.
  case overloaded(retryAfter: Int)
  /// The engine is shutting down.
  case shuttingDown
}

/// Runs one model's `Scheduler` on a dedicated thread, so the forward pass never blocks an event
/// loop. Async callers submit requests and read an `AsyncStream` of events; when the reader goes
/// away (client disconnect), the request is cancelled and its KV blocks return to the pool.
public final class EngineService: @unchecked Sendable {
  public let model: LoadedModel
  public let maxQueue: Int
  private let scheduler: Scheduler
  private let observer: EngineObserver?
  private let cond = NSCondition()
  // Guarded by `cond`:
  private var inbox: [(id: Int, request: GenerationRequest, submitted: Double, cont: AsyncStream<GenerationEvent>.Continuation)] = []
  private var cancels: [Int] = []
  private var stopping = false
  private var stopped = false
  private var nextID = 0
  private var snapshot = EngineStats()
  private var clearCache = false
  // Engine thread only:
  private var schedulerIDs: [Int: Int] = [:]
  private var thread: Thread?

  public init(model: LoadedModel, config: Scheduler.Config, maxQueue: Int = 64, observer: EngineObserver? = nil) {
    self.model = model
    self.maxQueue = maxQueue
    self.observer = observer
    scheduler = Scheduler(model: model.model, tokenizer: model.tokenizer, config: config)
    snapshot.kvBlocksTotal = scheduler.cache.blockCount
    let t = Thread { [weak self] in self?.loop() }
    t.name = "hearth-engine"
    t.stackSize = 8 << 20
    thread = t
    t.start()
  }

  public var config: Scheduler.Config { scheduler.config }
  public var maxRequestTokens: Int { scheduler.maxRequestTokens }

  public var stats: EngineStats {
    cond.lock()
    defer { cond.unlock() }
    return snapshot
  }

  /// Queues a request. Throws `.overloaded` at once when the queue is full.
  public func submit(_ request: GenerationRequest) throws(EngineServiceError) -> (id: Int, events: AsyncStream<GenerationEvent>) {
    let (stream, cont) = AsyncStream<GenerationEvent>.makeStream(bufferingPolicy: .unbounded)
    cond.lock()
    if stopping || stopped {
      cond.unlock()
      throw .shuttingDown
    }
    if inbox.count + snapshot.waiting >= maxQueue {
      cond.unlock()
      throw .overloaded(retryAfter: 1 + snapshot.waiting / max(1, scheduler.config.maxSequences))
    }
    let id = nextID
    nextID += 1
    inbox.append((id, request, Self.now(), cont))
    cond.signal()
    cond.unlock()
    cont.onTermination = { [weak self] reason in
      if case .cancelled = reason { self?.cancel(id) }
    }
    return (id, stream)
  }

  /// Cancels a request (no-op once it has finished).
  public func cancel(_ id: Int) {
    cond.lock()
    cancels.append(id)
    cond.signal()
    cond.unlock()
  }

  /// Frees every cached prefix block (admin action; also used by tests to measure baselines).
  public func clearPrefixCache() {
    cond.lock()
    clearCache = true
    cond.signal()
    cond.unlock()
  }

  /// Stops accepting work, lets running requests finish for up to `grace` seconds, cancels the
  /// rest, and stops the thread.
  public func shutdown(grace: Double) async {
    setFlag { $0.stopping = true }
    let deadline = Self.now() + grace
    while Self.now() < deadline {
      let s = stats
      if s.running == 0 && s.waiting == 0 && inboxEmpty { break }
      try? await Task.sleep(nanoseconds: 20_000_000)
    }
    setFlag { $0.stopped = true }
    while isAlive { try? await Task.sleep(nanoseconds: 5_000_000) }
  }

  private func setFlag(_ body: (EngineService) -> Void) {
    cond.lock()
    body(self)
    cond.signal()
    cond.unlock()
  }

  /// Whether new requests are refused (shutdown has begun).
  public var isDraining: Bool {
    cond.lock()
    defer { cond.unlock() }
    return stopping || stopped
  }

  private var inboxEmpty: Bool {
    cond.lock()
    defer { cond.unlock() }
    return inbox.isEmpty
  }

  private var alive = true
  private var isAlive: Bool {
    cond.lock()
    defer { cond.unlock() }
    return alive
  }

  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }

  // MARK: - Engine thread

  private func loop() {
    while true {
      cond.lock()
      while inbox.isEmpty && cancels.isEmpty && !scheduler.hasWork && !stopped && !clearCache { cond.wait() }
      let subs = inbox
      let cancelled = cancels
      let finishing = stopped
      let clear = clearCache
      inbox.removeAll()
      cancels.removeAll()
      clearCache = false
      cond.unlock()

      for sub in subs { start(sub.id, sub.request, submitted: sub.submitted, cont: sub.cont) }
      for id in cancelled { if let sid = schedulerIDs[id] { scheduler.cancel(sid) } }
      if clear { scheduler.clearPrefixCache() }
      if finishing {
        scheduler.cancelAll()
        publish()
        break
      }
      let q = scheduler.prefixQueries, h = scheduler.prefixHits
      scheduler.step()
      if scheduler.prefixQueries != q { observer?.prefixCache(queries: scheduler.prefixQueries - q, hits: scheduler.prefixHits - h) }
      publish()
    }
    cond.lock()
    alive = false
    cond.unlock()
  }

  private func publish() {
    let s = EngineStats(
      running: scheduler.runningCount, waiting: scheduler.waitingCount, kvUsage: scheduler.cacheUsage,
      kvBlocksUsed: scheduler.cache.usedBlocks, kvBlocksTotal: scheduler.cache.blockCount)
    cond.lock()
    snapshot = s
    cond.unlock()
  }

  private func start(_ id: Int, _ request: GenerationRequest, submitted: Double, cont: AsyncStream<GenerationEvent>.Continuation) {
    var firstAt: Double? = nil
    var lastAt = submitted
    var admitted = false
    var ended = false
    let observer = self.observer
    let sid = scheduler.submit(request) { [weak self] event in
      let t = Self.now()
      switch event {
      case .admitted:
        admitted = true
        observer?.queued(seconds: t - submitted)
      case .token:
        if firstAt == nil {
          firstAt = t
          observer?.firstToken(seconds: t - submitted)
        } else {
          observer?.interToken(seconds: t - lastAt)
        }
        lastAt = t
      case .finished(let reason, _, let usage):
        observer?.finished(reason: reason, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens, seconds: t - submitted)
        ended = true
        self?.schedulerIDs[id] = nil
      case .failed:
        observer?.failed(reason: admitted ? "engine_error" : "invalid_request")
        ended = true
        self?.schedulerIDs[id] = nil
      }
      let delivered = cont.yield(event)
      switch event {
      case .finished, .failed: cont.finish()
      default: break
      }
      if case .terminated = delivered { return false }
      return true
    }
    if !ended { schedulerIDs[id] = sid }
  }
}

import Kernels
import Models
import Tokenizers

/// Continuous batching over one model. Each `step()` runs one forward pass that advances every
/// running sequence by one token and feeds the next chunk of any prompt still being read, so a
/// long prompt never stalls the streams already running. New requests join between steps.
///
/// A request is admitted only when the KV pool can hold its whole prompt plus `maxTokens`, so a
/// running sequence can never run out of cache; the rest wait in order. Not thread-safe: one
/// thread owns a scheduler (the server runs it on a dedicated engine thread).
public final class Scheduler {
  public struct Config: Sendable {
    /// Tokens per forward step (decode tokens plus prompt chunks).
    public var maxBatchTokens = 256
    /// Sequences decoding at once.
    public var maxSequences = 16
    /// KV cache capacity in tokens, over all sequences.
    public var kvTokens = 8192
    public var kvBlockTokens = 32
    public var mode: KernelMode = .fast
    /// Keys and values in the cache; nil: f16, or f32 in exact mode.
    public var kvPrecision: KVPrecision?
    public var threads = 2
    /// Keep full prompt blocks for reuse by later requests with the same prefix.
    public var prefixCaching = true
    public init() {}

    /// The `kvTokens` that fit in `megabytes` MiB of keys and values for `model`.
    public func kvTokens(megabytes: Int, model: ModelConfig) -> Int {
      let perToken = KVCache.bytesPerToken(layers: model.layers, kvHeads: model.kvHeads, headDim: model.headDim,
                                           precision: kvPrecision ?? KVPrecision(for: mode))
      return (megabytes << 20) / perToken
    }
  }

  public typealias Sink = (GenerationEvent) -> Bool

  final class Sequence {
    let id: Int
    let request: GenerationRequest
    let sink: Sink
    let kvSeq: Int
    var tokens: [Int]
    var fed = 0  // tokens already in the KV cache
    var generated = 0
    var sampler: Sampler
    var detok: StreamingDetokenizer
    var stops: StopMatcher
    var cachedTokens = 0
    let constraint: (any TokenConstraint)?

    init(id: Int, request: GenerationRequest, sink: @escaping Sink, kvSeq: Int, vocab: Int, tokenizer: any Tokenizer) {
      self.id = id
      self.request = request
      self.sink = sink
      self.kvSeq = kvSeq
      tokens = request.prompt
      tokens.reserveCapacity(request.prompt.count + request.maxTokens)
      sampler = Sampler(params: request.sampling, vocabSize: vocab)
      detok = StreamingDetokenizer(tokenizer: tokenizer)
      stops = StopMatcher(request.stop)
      constraint = request.constraint?()
    }
  }

  public let model: any LanguageModel
  public let tokenizer: any Tokenizer
  public let config: Config
  public let cache: KVCache
  public let state: ForwardState
  let pool: ThreadPool
  private var batch: Batch
  private var waiting: [(id: Int, request: GenerationRequest, sink: Sink)] = []
  private var running: [Sequence] = []
  private var nextID = 0
  /// Sequence owning each logits row of the last step.
  private var rowOwners: [Sequence] = []
  let prefixCache: PrefixCache
  /// Prompt tokens looked up in, and found in, the prefix cache (for metrics).
  public private(set) var prefixQueries = 0
  public private(set) var prefixHits = 0

  public init(model: any LanguageModel, tokenizer: any Tokenizer, config: Config = Config()) {
    self.model = model
    self.tokenizer = tokenizer
    self.config = config
    pool = ThreadPool(threads: config.threads)
    cache = model.makeCache(maxTokens: config.kvTokens, blockTokens: config.kvBlockTokens, mode: config.mode,
                            precision: config.kvPrecision)
    state = model.makeState(maxBatch: config.maxBatchTokens, maxOutputs: config.maxSequences, mode: config.mode, pool: pool)
    batch = Batch(capacity: config.maxBatchTokens)
    rowOwners.reserveCapacity(config.maxSequences)
    prefixCache = PrefixCache(blockTokens: config.kvBlockTokens)
  }

  public var runningCount: Int { running.count }
  public var waitingCount: Int { waiting.count }
  public var hasWork: Bool { !running.isEmpty || !waiting.isEmpty }
  /// Fraction of KV blocks held by requests; blocks only the prefix cache keeps count as free,
  /// since admission evicts them on demand.
  public var cacheUsage: Double {
    Double(cache.usedBlocks - prefixCache.evictableBlocks(cache)) / Double(cache.blockCount)
  }

  /// Forgets every cached prefix (their blocks return to the pool).
  public func clearPrefixCache() { prefixCache.clear(cache) }

  /// The most tokens (prompt + output) one request may ask for.
  public var maxRequestTokens: Int { min(model.config.contextLength, cache.capacityTokens) }

  /// Queues a request. Events go to `sink` on the scheduler's thread; returning false from the
  /// sink cancels the request (a client that went away). Returns the request's id.
  @discardableResult
  public func submit(_ request: GenerationRequest, sink: @escaping Sink) -> Int {
    let id = nextID
    nextID += 1
    if let problem = validate(request) {
      _ = sink(.failed(problem))
      return id
    }
    waiting.append((id, request, sink))
    return id
  }

  /// Cancels a waiting or running request; its KV blocks return to the pool at once.
  public func cancel(_ id: Int) {
    if let i = waiting.firstIndex(where: { $0.id == id }) {
      let w = waiting.remove(at: i)
      _ = w.sink(.finished(reason: .cancelled, text: "", usage: Usage(promptTokens: w.request.prompt.count, completionTokens: 0)))
    }
    if let s = running.first(where: { $0.id == id }) { finish(s, .cancelled) }
  }

  /// Cancels everything (shutdown).
  public func cancelAll() {
    for w in waiting { cancel(w.id) }
    for s in running { finish(s, .cancelled) }
  }

  private func validate(_ r: GenerationRequest) -> String? {
    if r.prompt.isEmpty { return "the prompt is empty" }
    if r.maxTokens < 1 { return "max_tokens must be at least 1" }
    let vocab = model.config.vocabSize
    if let bad = r.prompt.first(where: { $0 < 0 || $0 >= vocab }) { return "token id \(bad) is outside the vocabulary" }
    if r.prompt.count + r.maxTokens > maxRequestTokens {
      return "prompt (\(r.prompt.count) tokens) plus max_tokens (\(r.maxTokens)) exceeds the context of \(maxRequestTokens) tokens"
    }
    return nil
  }

  /// Moves waiting requests into the running set while their whole budget fits in the cache,
  /// reusing cached prefix blocks and evicting unused cached ones when short.
  /// Prompt tokens a prefix-cache hit leaves to compute (the fast kernels switch from one-token
  /// dot products to the multi-token gemm at 4 tokens; the two round differently).
  static let minComputedSuffix = 4

  private func admit() {
    while let w = waiting.first, running.count < config.maxSequences {
      let total = w.request.prompt.count + w.request.maxTokens
      // The last prompt tokens are always computed: their logits start generation, and leaving
      // at least `minComputedSuffix` of them keeps a cache hit on the same (multi-token) kernels
      // as a cold prompt, so a seeded request samples the same text either way.
      let hit = config.prefixCaching
        ? prefixCache.lookup(
          scope: w.request.cacheScope, tokens: w.request.prompt, limit: w.request.prompt.count - Self.minComputedSuffix)
        : (blocks: [], tokens: 0)
      let need = cache.blocksFor(tokens: total) - hit.blocks.count
      if need > cache.freeBlocks { prefixCache.evict(need - cache.freeBlocks, kv: cache) }
      guard need <= cache.freeBlocks else { break }
      waiting.removeFirst()
      prefixQueries += w.request.prompt.count
      prefixHits += hit.tokens
      let kv = cache.createSequence()
      cache.adopt(kv, blocks: hit.blocks, length: hit.tokens)
      // Reserving the whole budget now means a running sequence never meets a full cache.
      try! cache.reserve(kv, length: total)
      let s = Sequence(id: w.id, request: w.request, sink: w.sink, kvSeq: kv, vocab: model.config.vocabSize, tokenizer: tokenizer)
      s.fed = hit.tokens
      s.cachedTokens = hit.tokens
      running.append(s)
      if !w.sink(.admitted(cachedTokens: hit.tokens)) { finish(s, .cancelled) }
    }
  }

  /// Offers a sequence's computed full blocks to the prefix cache.
  private func cachePrefix(_ s: Sequence) {
    guard config.prefixCaching else { return }
    prefixCache.insert(scope: s.request.cacheScope, tokens: s.tokens, blocks: cache.blocks(of: s.kvSeq), valid: s.fed, kv: cache)
  }

  /// Runs one forward step. Returns false when there was nothing to do.
  ///
  /// Decoding sequences and prompt chunks go through separate forward passes. The kernels choose
  /// the one-token or the multi-token path by the size of the batch, and the two round differently;
  /// in one mixed batch a stream's logits (and so its seeded samples) would depend on which other
  /// requests happened to be prefilling at that moment.
  @discardableResult
  public func step() -> Bool {
    admit()
    guard !running.isEmpty else { return false }
    let decoding = running.filter { $0.fed == $0.tokens.count - 1 && $0.fed >= $0.request.prompt.count }
    let prefilling = running.filter { $0.fed < $0.request.prompt.count }
    if !decoding.isEmpty {
      batch.clear()
      rowOwners.removeAll(keepingCapacity: true)
      for s in decoding {
        batch.add(token: s.tokens[s.fed], position: s.fed, sequence: s.kvSeq, logits: true)
        rowOwners.append(s)
      }
      run(decoding)
    }
    // Prompt chunks, within what is left of the step's token budget.
    var room = config.maxBatchTokens - decoding.count
    batch.clear()
    rowOwners.removeAll(keepingCapacity: true)
    var chunked: [Sequence] = []
    for s in prefilling where room > 0 && running.contains(where: { $0 === s }) {
      let end = min(s.request.prompt.count, s.fed + room)
      for p in s.fed..<end {
        let last = p == s.request.prompt.count - 1
        batch.add(token: s.tokens[p], position: p, sequence: s.kvSeq, logits: last)
        if last { rowOwners.append(s) }
      }
      room -= end - s.fed
      chunked.append(s)
    }
    if !chunked.isEmpty { run(chunked) }
    return true
  }

  /// Runs the prepared batch for `members`, advances what they have fed, and samples the rows that
  /// asked for logits.
  private func run(_ members: [Sequence]) {
    do {
      _ = try model.forward(batch, cache: cache, state: state)
    } catch {
      for s in running { fail(s, "\(error)") }
      return
    }
    // Account for fed tokens before sampling appends new ones.
    for s in members {
      let inBatch = batch.sequences.reduce(0) { $0 + ($1 == s.kvSeq ? 1 : 0) }
      let wasPrefilling = s.fed < s.request.prompt.count
      s.fed += inBatch
      if wasPrefilling && s.fed >= s.request.prompt.count { cachePrefix(s) }
    }
    for (row, s) in rowOwners.enumerated() where running.contains(where: { $0 === s }) {
      sampleNext(s, logits: state.logitsRow(row))
    }
  }

  /// Runs steps until every submitted request has finished.
  public func runUntilIdle() {
    while step() {}
  }

  private func sampleNext(_ s: Sequence, logits: UnsafeMutableBufferPointer<Float>) {
    // Logprobs describe the model's own distribution, before penalties or constraints reshape it.
    let raw: [Float]? = s.request.logprobs != nil ? Array(logits) : nil
    let remaining = s.request.maxTokens - s.generated - 1
    let token = s.sampler.sample(logits, history: s.tokens[...], constraint: s.constraint, remaining: remaining)
    guard token >= 0 else {
      // The constraint allows nothing: the output is as complete as it can be.
      finish(s, .stop)
      return
    }
    var lp: TokenLogprob? = nil
    if let k = s.request.logprobs, let raw {
      let r = raw.withUnsafeBufferPointer { Sampler.logprobs($0, token: token, top: k) }
      lp = TokenLogprob(token: token, logprob: r.logprob, top: r.top.map { (id: $0.0, logprob: $0.1) })
    }
    s.constraint?.accept(token)
    accept(s, token: token, logprob: lp)
    if s.constraint?.isComplete == true, running.contains(where: { $0 === s }) { finish(s, .stop) }
  }

  private func accept(_ s: Sequence, token: Int, logprob: TokenLogprob?) {
    s.generated += 1
    if s.request.stopTokens.contains(token) {
      _ = s.sink(.token(id: token, text: "", logprob: logprob))
      finish(s, .stop)
      return
    }
    s.tokens.append(token)
    let piece = s.detok.add(token)
    switch s.stops.add(piece) {
    case .text(let t):
      if !s.sink(.token(id: token, text: t, logprob: logprob)) { finish(s, .cancelled); return }
    case .stop(let t):
      _ = s.sink(.token(id: token, text: t, logprob: logprob))
      finish(s, .stop, flushText: false)
      return
    }
    if s.generated >= s.request.maxTokens { finish(s, .length) }
  }

  private func finish(_ s: Sequence, _ reason: FinishReason, flushText: Bool = true) {
    guard let i = running.firstIndex(where: { $0 === s }) else { return }
    running.remove(at: i)
    cachePrefix(s)
    cache.removeSequence(s.kvSeq)
    var tail = ""
    if flushText && reason != .cancelled {
      tail = s.stops.add(s.detok.flush()).text + s.stops.flush()
    }
    let usage = Usage(promptTokens: s.request.prompt.count, completionTokens: s.generated, cachedTokens: s.cachedTokens)
    _ = s.sink(.finished(reason: reason, text: tail, usage: usage))
  }

  private func fail(_ s: Sequence, _ message: String) {
    guard let i = running.firstIndex(where: { $0 === s }) else { return }
    running.remove(at: i)
    cache.removeSequence(s.kvSeq)
    _ = s.sink(.failed(message))
  }
}

extension StopMatcher.Result {
  var text: String {
    switch self {
    case .text(let t), .stop(let t): return t
    }
  }
}

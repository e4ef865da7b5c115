/// What a deployment must achieve. Nil targets are not checked.
public struct Targets: Sendable, Equatable, Codable {
  /// Decode tokens per second each stream must see.
  public var tokensPerSecond: Double?
  /// Time to first token, seconds.
  public var ttftSeconds: Double?
  /// 99th-percentile end-to-end request latency, seconds.
  public var p99Seconds: Double?

  public init(tokensPerSecond: Double? = nil, ttftSeconds: Double? = nil, p99Seconds: Double? = nil) {
    self.tokensPerSecond = tokensPerSecond
    self.ttftSeconds = ttftSeconds
    self.p99Seconds = p99Seconds
  }
}

/// Everything one plan needs. Field names in errors are the `hearth plan` flags.
public struct PlanRequest: Sendable {
  public var model: ModelSpec
  /// Nil: the GGUF's own tensors, as stored.
  public var weights: WeightFormat?
  public var kv: KVCacheType
  /// Tokens per sequence (prompt + output) that the KV cache is sized for.
  public var context: Int
  /// Sequences running at once on one replica.
  public var concurrency: Int
  public var hardware: Hardware
  /// Nil: the context less the output.
  public var promptTokens: Int?
  public var outputTokens: Int
  /// Per device per hour; nil falls back to the catalogue entry's price.
  public var pricePerHour: Double?
  public var spotPricePerHour: Double?
  public var targets: Targets
  /// Requests per second the whole deployment must serve; sizes the replica count.
  public var qps: Double?
  /// Share of device memory the runtime may fill (vLLM's default `gpu_memory_utilization`).
  public var memoryUtilization: Double
  public var decodeEfficiency: Double?
  public var prefillEfficiency: Double?
  /// Forces this tensor-parallel degree (e.g. more GPUs per replica for a faster prefill); nil: the smallest that fits.
  public var tensorParallel: Int?

  public init(model: ModelSpec, weights: WeightFormat?, kv: KVCacheType = .f16, context: Int, concurrency: Int = 1,
              hardware: Hardware, promptTokens: Int? = nil, outputTokens: Int = 256, pricePerHour: Double? = nil,
              spotPricePerHour: Double? = nil, targets: Targets = Targets(), qps: Double? = nil,
              memoryUtilization: Double = 0.9, decodeEfficiency: Double? = nil, prefillEfficiency: Double? = nil,
              tensorParallel: Int? = nil) {
    self.model = model
    self.weights = weights
    self.kv = kv
    self.context = context
    self.concurrency = concurrency
    self.hardware = hardware
    self.promptTokens = promptTokens
    self.outputTokens = outputTokens
    self.pricePerHour = pricePerHour
    self.spotPricePerHour = spotPricePerHour
    self.targets = targets
    self.qps = qps
    self.memoryUtilization = memoryUtilization
    self.decodeEfficiency = decodeEfficiency
    self.prefillEfficiency = prefillEfficiency
    self.tensorParallel = tensorParallel
  }

  /// Prompt and output lengths that fit the context: by default the prompt fills what the output leaves.
  public var effectivePromptTokens: Int { promptTokens ?? max(1, context - effectiveOutputTokens) }
  public var effectiveOutputTokens: Int { promptTokens == nil ? min(outputTokens, max(1, context / 2)) : outputTokens }
  public var effectivePricePerHour: Double? { pricePerHour ?? hardware.pricePerHour }
  public var effectiveSpotPricePerHour: Double? { spotPricePerHour ?? hardware.spotPricePerHour }

  /// Checks every field before any arithmetic, naming the flag at fault.
  public func validate() throws(PlannerError) {
    func positive(_ v: Int, _ field: String, _ what: String) throws(PlannerError) {
      if v < 1 { throw .invalid(field: field, "must be a positive \(what) (got \(v))") }
    }
    func positive(_ v: Double?, _ field: String) throws(PlannerError) {
      if let v, !(v > 0 && v.isFinite) { throw .invalid(field: field, "must be a positive number (got \(v))") }
    }
    try positive(context, "--context", "number of tokens")
    if context < 2 { throw .invalid(field: "--context", "must leave room for a prompt token and an output token (got \(context))") }
    if context > model.maxContext { throw .contextTooLong(context: context, model: model.name, max: model.maxContext) }
    try positive(concurrency, "--concurrency", "number of sequences")
    if concurrency > 1_000_000 { throw .invalid(field: "--concurrency", "must be at most 1000000 (got \(concurrency))") }
    try positive(outputTokens, "--output-tokens", "number of tokens")
    if let p = promptTokens {
      try positive(p, "--prompt-tokens", "number of tokens")
      if p + outputTokens > context {
        throw .invalid(field: "--prompt-tokens", "\(p) plus --output-tokens \(outputTokens) exceeds --context \(context)")
      }
    }
    try positive(pricePerHour, "--price-per-hour")
    try positive(spotPricePerHour, "--spot-price-per-hour")
    try positive(targets.tokensPerSecond, "--target-tps")
    try positive(targets.ttftSeconds, "--target-ttft")
    try positive(targets.p99Seconds, "--target-p99")
    try positive(qps, "--qps")
    if !(memoryUtilization > 0 && memoryUtilization <= 1) {
      throw .invalid(field: "--memory-utilization", "must be in (0, 1] (got \(memoryUtilization))")
    }
    for (v, field) in [(decodeEfficiency, "--decode-efficiency"), (prefillEfficiency, "--prefill-efficiency")] {
      if let v, !(v > 0 && v <= 4) { throw .invalid(field: field, "must be in (0, 4] (got \(v))") }
    }
    if let tp = tensorParallel {
      let perNode = hardware.effectiveDevicesPerNode
      guard tp >= 1, tp & (tp - 1) == 0, tp <= perNode else {
        throw .invalid(field: "--tensor-parallel", "must be a power of two up to \(perNode) (the \(hardware.name)s in one node; got \(tp))")
      }
      guard Layout.isValid(tensorParallel: tp, for: model) else {
        throw .invalid(field: "--tensor-parallel", "\(tp) does not split \(model.name)'s \(model.heads) heads and \(model.kvHeads) KV heads evenly")
      }
    }
  }
}

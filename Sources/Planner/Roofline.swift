/// How a model is split: tensor parallel inside a node, pipeline stages across nodes.
public struct Layout: Sendable, Equatable, Codable {
  public var tensorParallel: Int
  public var pipelineParallel: Int
  public var devices: Int { tensorParallel * pipelineParallel }

  public init(tensorParallel: Int = 1, pipelineParallel: Int = 1) {
    self.tensorParallel = tensorParallel
    self.pipelineParallel = pipelineParallel
  }

  /// Tensor parallelism splits attention heads: TP must divide the query heads, and either divide
  /// the KV heads or be a multiple of them (then each device keeps a copy of one KV head, as vLLM does).
  public static func isValid(tensorParallel tp: Int, for m: ModelSpec) -> Bool {
    m.heads % tp == 0 && (m.kvHeads % tp == 0 || tp % m.kvHeads == 0)
  }

  /// The share of each sequence's KV cache one device holds.
  public func kvShare(_ m: ModelSpec) -> Double {
    let headsPerDevice = max(1, m.kvHeads / tensorParallel)
    return Double(headsPerDevice) / Double(m.kvHeads) / Double(pipelineParallel)
  }
}

/// Time for one step, split by what bounds it.
public struct StepTime: Sendable, Equatable, Codable {
  public var memorySeconds: Double
  public var computeSeconds: Double
  public var communicationSeconds: Double
  public var overheadSeconds: Double
  /// Roofline: the slower of memory and arithmetic, plus what neither overlaps.
  public var seconds: Double { max(memorySeconds, computeSeconds) + communicationSeconds + overheadSeconds }
  public var boundBy: String { memorySeconds >= computeSeconds ? "memory bandwidth" : "compute" }
}

/// The speed model for one model, weight format, device and layout.
public struct Roofline: Sendable {
  public var model: ModelSpec
  public var weights: WeightBreakdown
  public var hardware: Hardware
  public var precision: ComputePrecision
  public var kv: KVCacheType
  public var layout: Layout
  public var decodeEfficiency: Double
  /// For the bit-packed share of the weights: the hardware's calibrated figure, else (or when
  /// `decodeEfficiency` is given) the same as the rest.
  public var packedDecodeEfficiency: Double
  public var prefillEfficiency: Double

  public init(model: ModelSpec, weights: WeightBreakdown, hardware: Hardware, precision: ComputePrecision,
              kv: KVCacheType, layout: Layout = Layout(), decodeEfficiency: Double? = nil, prefillEfficiency: Double? = nil) {
    self.model = model
    self.weights = weights
    self.hardware = hardware
    self.precision = precision
    self.kv = kv
    self.layout = layout
    self.decodeEfficiency = decodeEfficiency ?? hardware.effectiveDecodeEfficiency
    self.packedDecodeEfficiency = decodeEfficiency ?? hardware.packedDecodeEfficiency ?? self.decodeEfficiency
    self.prefillEfficiency = prefillEfficiency ?? hardware.effectivePrefillEfficiency
  }

  /// Bytes per second a decode step streams from memory.
  var bandwidth: Double { hardware.bandwidthBytesPerSecond * decodeEfficiency }
  /// Operations per second a prefill sustains on one device.
  var arithmetic: Double { hardware.peakOpsPerSecond(precision) * prefillEfficiency }

  /// Activations travel between devices as f16 on GPUs.
  static let activationBytes = 2.0
  /// One small send between pipeline stages on different nodes (InfiniBand/RoCE).
  static let stageHopSeconds = 20e-6

  /// One decode step for `batch` sequences whose context is `context` tokens long.
  ///
  /// Memory: the weights the step touches (split by TP) plus every sequence's KV for the attended
  /// positions. Stages of a pipeline run one after another, so PP divides memory per device but
  /// not the time of a step.
  public func decodeStep(batch: Int, context: Int) -> StepTime {
    let tp = Double(layout.tensorParallel)
    let kvRead = Double(batch) * model.kvBytesPerSequence(context: context, kv) * layout.kvShare(model) * Double(layout.pipelineParallel)
    let weightBytes = weights.decodeBytes(model, batch: batch) / tp, packed = weights.decodePackedBytes(model, batch: batch) / tp
    let flops = Double(batch) * model.decodeFLOPs(context: context, weights: weights) / tp
    let packedBandwidth = hardware.bandwidthBytesPerSecond * packedDecodeEfficiency
    return StepTime(
      memorySeconds: (weightBytes - packed + kvRead) / bandwidth + packed / packedBandwidth,
      computeSeconds: flops / arithmetic,
      communicationSeconds: communication(tokens: batch),
      overheadSeconds: Double(model.layers) * (hardware.decodeOverheadPerLayerSeconds ?? 0))
  }

  /// Prefill of one `prompt`-token request: compute-bound except for tiny prompts, which still read
  /// every weight once.
  public func prefill(prompt: Int) -> StepTime {
    let tp = Double(layout.tensorParallel)
    let flops = Double(prompt) * model.prefillFLOPsPerToken(prompt: prompt, weights: weights) / tp
    return StepTime(
      memorySeconds: weights.decodeBytes(model, batch: prompt) / tp / bandwidth,
      computeSeconds: flops / arithmetic,
      communicationSeconds: communication(tokens: prompt),
      overheadSeconds: Double(prompt * model.layers) * (hardware.prefillOverheadPerLayerSeconds ?? 0))
  }

  /// Tensor parallelism all-reduces the activations twice per layer (after attention and after the
  /// FFN): a ring moves 2(TP−1)/TP of the data each way, and each all-reduce pays a fixed latency.
  /// Pipeline stages add one hop each.
  func communication(tokens: Int) -> Double {
    var t = Double(layout.pipelineParallel - 1) * Self.stageHopSeconds
    let tp = layout.tensorParallel
    if tp > 1 {
      let bytes = Double(tokens * model.hidden) * Self.activationBytes * 2 * Double(tp - 1) / Double(tp)
      let link = (hardware.interconnectGBps ?? 16) * 1e9
      let latency = (hardware.allReduceLatencyMicroseconds ?? 25) * 1e-6
      t += 2 * Double(model.layers) * (latency + bytes / link)
    }
    return t
  }
}

/// Memory on one device, and how many sequences it leaves room for.
public struct DeviceMemory: Sendable, Equatable, Codable {
  public var capacity: Double
  public var usable: Double
  public var weights: Double
  public var runtime: Double
  public var activations: Double
  /// KV cache of one full-context sequence on this device.
  public var kvPerSequence: Double
  /// The f32 logits row each running sequence samples from.
  public var logitsPerSequence: Double

  public var overhead: Double { runtime + activations }
  public var perSequence: Double { kvPerSequence + logitsPerSequence }

  public var maxConcurrency: Int {
    let free = usable - weights - overhead
    guard free > 0, perSequence > 0 else { return 0 }
    return Int(min(free / perSequence, 1e9))
  }

  public func used(concurrency: Int) -> Double { weights + overhead + Double(concurrency) * perSequence }

  /// Tokens one prefill pass processes at most: bounds the activation buffers (vLLM's default
  /// chunked-prefill budget is of this order).
  public static let prefillChunk = 2048

  /// The memory model: weights split over every device; a fixed runtime reserve; activations of one
  /// prefill chunk (residual and normed rows, q/k/v, gate and up: f16 on GPUs, f32 on CPUs); the KV
  /// cache of each sequence (window-aware) and its logits row.
  public init(model m: ModelSpec, weights w: WeightBreakdown, kv: KVCacheType, context: Int, hardware hw: Hardware,
              layout: Layout, utilization: Double) {
    let tp = layout.tensorParallel
    capacity = hw.memoryBytes
    usable = hw.memoryBytes * utilization
    weights = w.bytes / Double(layout.devices)
    runtime = hw.effectiveRuntimeOverheadBytes
    let chunk = Double(min(Self.prefillChunk, context))
    let perToken = Double(2 * m.hidden + (m.qDim + 2 * m.kvDim) / tp + 2 * m.ffn * m.activeExperts / tp)
    activations = chunk * perToken * (hw.kind == .gpu ? 2 : 4)
    kvPerSequence = m.kvBytesPerSequence(context: context, kv) * layout.kvShare(m)
    logitsPerSequence = Double(m.vocab) * 4
  }
}

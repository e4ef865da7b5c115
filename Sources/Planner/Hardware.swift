/// One device the planner can place a model on: a GPU, or a CPU socket with its RAM.
///
/// Peaks are dense (no 2:4 sparsity). Optional fields fall back to the defaults below; a catalogue
/// file may set any of them per entry (JSON keys in `CodingKeys`).
public struct Hardware: Sendable, Equatable, Codable {
  public enum Kind: String, Sendable, Codable { case gpu, cpu }

  public var name: String
  public var kind: Kind
  public var memoryGiB: Double
  public var bandwidthGBps: Double
  public var fp16TFLOPS: Double
  public var int8TOPS: Double
  /// Nil where the device has no FP8 arithmetic (A100, CPUs): FP8 weights then run at the FP16 peak.
  public var fp8TFLOPS: Double?
  public var interconnect: String?
  /// Per-direction bandwidth between devices of one node, for tensor-parallel all-reduces.
  public var interconnectGBps: Double?
  public var allReduceLatencyMicroseconds: Double?
  public var devicesPerNode: Int?
  /// CPU cores (what a Kubernetes pod requests); for GPUs, host cores per GPU.
  public var cores: Int?
  public var decodeEfficiency: Double?
  /// Decode efficiency for bit-packed weights (`WeightBreakdown.Part.packedBytes`), where a calibration
  /// measured it apart; nil: `decodeEfficiency` for every byte.
  public var packedDecodeEfficiency: Double?
  public var prefillEfficiency: Double?
  /// Fixed time per layer per token that no roofline explains (kernel launches, thread barriers); fitted by calibration.
  public var decodeOverheadPerLayerSeconds: Double?
  public var prefillOverheadPerLayerSeconds: Double?
  /// Memory a runtime takes before any weight: CUDA context, cuBLAS/NCCL workspaces, CUDA graphs.
  public var runtimeOverheadGiB: Double?
  public var pricePerHour: Double?
  public var spotPricePerHour: Double?
  public var aliases: [String]?
  public var source: String

  enum CodingKeys: String, CodingKey {
    case name, kind, source, aliases, interconnect, cores
    case memoryGiB = "memory_gib"
    case bandwidthGBps = "bandwidth_gbps"
    case fp16TFLOPS = "fp16_tflops"
    case int8TOPS = "int8_tops"
    case fp8TFLOPS = "fp8_tflops"
    case interconnectGBps = "interconnect_gbps"
    case allReduceLatencyMicroseconds = "allreduce_latency_us"
    case devicesPerNode = "devices_per_node"
    case decodeEfficiency = "decode_efficiency"
    case packedDecodeEfficiency = "packed_decode_efficiency"
    case prefillEfficiency = "prefill_efficiency"
    case decodeOverheadPerLayerSeconds = "decode_overhead_s_per_layer"
    case prefillOverheadPerLayerSeconds = "prefill_overhead_s_per_layer"
    case runtimeOverheadGiB = "runtime_overhead_gib"
    case pricePerHour = "price_per_hour"
    case spotPricePerHour = "spot_price_per_hour"
  }

  public init(
    name: String, kind: Kind, memoryGiB: Double, bandwidthGBps: Double, fp16TFLOPS: Double, int8TOPS: Double,
    fp8TFLOPS: Double? = nil, interconnect: String? = nil, interconnectGBps: Double? = nil,
    allReduceLatencyMicroseconds: Double? = nil, devicesPerNode: Int? = nil, cores: Int? = nil,
    decodeEfficiency: Double? = nil, packedDecodeEfficiency: Double? = nil, prefillEfficiency: Double? = nil,
    decodeOverheadPerLayerSeconds: Double? = nil, prefillOverheadPerLayerSeconds: Double? = nil,
    runtimeOverheadGiB: Double? = nil, aliases: [String]? = nil, source: String
  ) {
    self.name = name
    self.kind = kind
    self.memoryGiB = memoryGiB
    self.bandwidthGBps = bandwidthGBps
    self.fp16TFLOPS = fp16TFLOPS
    self.int8TOPS = int8TOPS
    self.fp8TFLOPS = fp8TFLOPS
    self.interconnect = interconnect
    self.interconnectGBps = interconnectGBps
    self.allReduceLatencyMicroseconds = allReduceLatencyMicroseconds
    self.devicesPerNode = devicesPerNode
    self.cores = cores
    self.decodeEfficiency = decodeEfficiency
    self.packedDecodeEfficiency = packedDecodeEfficiency
    self.prefillEfficiency = prefillEfficiency
    self.decodeOverheadPerLayerSeconds = decodeOverheadPerLayerSeconds
    self.prefillOverheadPerLayerSeconds = prefillOverheadPerLayerSeconds
    self.runtimeOverheadGiB = runtimeOverheadGiB
    self.aliases = aliases
    self.source = source
  }

  // MARK: - Effective values, defaults applied

  public var memoryBytes: Double { memoryGiB * 1_073_741_824 }
  public var bandwidthBytesPerSecond: Double { bandwidthGBps * 1e9 }

  /// Share of peak bandwidth a decode step reaches. GPUs: vLLM and TensorRT-LLM reach ~75–85 % of
  /// HBM bandwidth at small batch on large models; CPUs: STREAM-like reads reach ~60 % of the
  /// channels' theoretical figure.
  public var effectiveDecodeEfficiency: Double { decodeEfficiency ?? (kind == .gpu ? 0.8 : 0.6) }
  /// Share of peak arithmetic a prefill reaches: ~60 % model FLOPs utilisation on GPUs, lower on
  /// CPUs whose kernels rarely keep every vector unit busy.
  public var effectivePrefillEfficiency: Double { prefillEfficiency ?? (kind == .gpu ? 0.6 : 0.3) }
  public var effectiveRuntimeOverheadBytes: Double { (runtimeOverheadGiB ?? (kind == .gpu ? 1.5 : 0.25)) * 1_073_741_824 }
  /// Tensor parallelism stays inside a node: 8 GPUs per server, one CPU "device" per machine.
  public var effectiveDevicesPerNode: Int { devicesPerNode ?? (kind == .gpu ? 8 : 1) }

  /// Peak operations per second for `precision`.
  public func peakOpsPerSecond(_ precision: ComputePrecision) -> Double {
    switch precision {
    case .fp16: return fp16TFLOPS * 1e12
    case .int8: return int8TOPS * 1e12
    case .fp8: return (fp8TFLOPS ?? fp16TFLOPS) * 1e12
    }
  }

  /// Checks one entry of a catalogue file; `what` names it in the error.
  func validate(_ what: String) -> String? {
    func positive(_ v: Double, _ key: String) -> String? { v > 0 && v.isFinite ? nil : "\(what): \(key) must be positive" }
    if Names.normalize(name).isEmpty { return "\(what): name must not be empty" }
    for (v, key) in [(memoryGiB, "memory_gib"), (bandwidthGBps, "bandwidth_gbps"), (fp16TFLOPS, "fp16_tflops"), (int8TOPS, "int8_tops")] {
      if let e = positive(v, key) { return e }
    }
    let optional: [(Double?, String)] = [
      (fp8TFLOPS, "fp8_tflops"), (interconnectGBps, "interconnect_gbps"), (pricePerHour, "price_per_hour"),
      (spotPricePerHour, "spot_price_per_hour"),
    ]
    for case (let v?, let key) in optional { if let e = positive(v, key) { return e } }
    for case (let v?, let key) in [(decodeEfficiency, "decode_efficiency"), (packedDecodeEfficiency, "packed_decode_efficiency"),
                                   (prefillEfficiency, "prefill_efficiency")] {
      if !(v > 0 && v <= 4) { return "\(what): \(key) must be in (0, 4]" }
    }
    for case (let v?, let key) in [
      (decodeOverheadPerLayerSeconds, "decode_overhead_s_per_layer"), (prefillOverheadPerLayerSeconds, "prefill_overhead_s_per_layer"),
      (runtimeOverheadGiB, "runtime_overhead_gib"), (allReduceLatencyMicroseconds, "allreduce_latency_us"),
    ] where !(v >= 0 && v.isFinite) {
      return "\(what): \(key) must not be negative"
    }
    if let d = devicesPerNode, !(1...64).contains(d) { return "\(what): devices_per_node must be 1...64" }
    if let c = cores, c < 1 { return "\(what): cores must be positive" }
    return nil
  }
}

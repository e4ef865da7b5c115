import Foundation

/// One target and whether the plan meets it.
public struct TargetCheck: Sendable, Equatable, Encodable {
  public var name: String
  public var target: Double
  public var predicted: Double
  public var met: Bool
}

/// The planner's answer. `hearth plan --json` prints it; the table is rendered from it.
public struct CapacityPlan: Sendable, Encodable {
  public var model: String
  public var parameters: Int
  public var activeParameters: Int
  public var weightsFormat: String
  public var kvCacheType: String
  public var context: Int
  public var concurrency: Int
  public var hardware: String
  public var hardwareKind: Hardware.Kind
  /// The catalogue entry planned on, with its figures and source.
  public var hardwareSpec: Hardware
  public var computePrecision: ComputePrecision

  public var weightsBytes: Int
  public var weightsBytesPerDevice: Int
  public var kvBytesPerToken: Int
  public var kvBytesPerSequence: Int
  public var kvBytesTotal: Int
  /// Per device: the runtime reserve plus activation buffers.
  public var runtimeOverheadBytes: Int
  public var memory: DeviceMemory
  public var memoryUsedPerDeviceBytes: Int

  public var layout: Layout
  public var maxConcurrency: Int

  public var decodeEfficiency: Double
  public var prefillEfficiency: Double
  /// Per stream, with `concurrency` sequences sharing each step.
  public var decodeTokensPerS: Double
  /// All streams of one replica together.
  public var decodeTokensPerSTotal: Double
  /// One stream alone on the replica.
  public var decodeTokensPerSSingle: Double
  public var decodeStep: StepTime
  public var prefillTokensPerS: Double
  public var prefill: StepTime
  public var promptTokens: Int
  public var outputTokens: Int
  public var ttftS: Double
  /// Prefill plus decode of every output token at full batch, without queueing.
  public var requestLatencyS: Double
  /// Output tokens per second of one saturated replica, prompts' prefill included.
  public var saturatedOutputTokensPerS: Double

  public var pricePerHour: Double?
  public var spotPricePerHour: Double?
  public var costPerMillionTokens: Double?
  public var costPerMillionTokensSpot: Double?

  public var qps: Double?
  public var replicas: Int
  public var serving: ServingEstimate?
  public var costPerMonth: Double?
  public var costPerMonthSpot: Double?

  public var targets: [TargetCheck]
  public var targetsMet: Bool { targets.allSatisfy(\.met) }
  public var kubernetes: String
  public var notes: [String]

  public var devices: Int { layout.devices }
  public var gpus: Int { hardwareKind == .gpu ? layout.devices : 0 }

  enum CodingKeys: String, CodingKey {
    case model, parameters, context, concurrency, hardware, memory, layout, prefill, qps, replicas, serving, targets
    case kubernetes, notes, devices, gpus
    case activeParameters = "active_parameters", weightsFormat = "weights_format", kvCacheType = "kv_cache_type"
    case hardwareKind = "hardware_kind", hardwareSpec = "hardware_spec", computePrecision = "compute_precision"
    case weightsBytes = "weights_bytes", weightsBytesPerDevice = "weights_bytes_per_device"
    case kvBytesPerToken = "kv_bytes_per_token", kvBytesPerSequence = "kv_bytes_per_sequence", kvBytesTotal = "kv_bytes_total"
    case runtimeOverheadBytes = "runtime_overhead_bytes", memoryUsedPerDeviceBytes = "memory_used_per_device_bytes"
    case tensorParallel = "tensor_parallel", pipelineParallel = "pipeline_parallel", maxConcurrency = "max_concurrency"
    case decodeEfficiency = "decode_efficiency", prefillEfficiency = "prefill_efficiency"
    case decodeTokensPerS = "decode_tokens_per_s", decodeTokensPerSTotal = "decode_tokens_per_s_total"
    case decodeTokensPerSSingle = "decode_tokens_per_s_single", decodeStep = "decode_step"
    case decodeBoundBy = "decode_bound_by", prefillTokensPerS = "prefill_tokens_per_s"
    case promptTokens = "prompt_tokens", outputTokens = "output_tokens", ttftS = "ttft_s"
    case requestLatencyS = "request_latency_s", saturatedOutputTokensPerS = "saturated_output_tokens_per_s"
    case pricePerHour = "price_per_hour", spotPricePerHour = "spot_price_per_hour"
    case costPerMillionTokens = "cost_per_million_tokens", costPerMillionTokensSpot = "cost_per_million_tokens_spot"
    case costPerMonth = "cost_per_month", costPerMonthSpot = "cost_per_month_spot", targetsMet = "targets_met"
  }

  /// Every key is written, absent values as null, so scripts can rely on the shape.
  public func encode(to encoder: Encoder) throws {
    var c = encoder.container(keyedBy: CodingKeys.self)
    try c.encode(model, forKey: .model)
    try c.encode(parameters, forKey: .parameters)
    try c.encode(activeParameters, forKey: .activeParameters)
    try c.encode(weightsFormat, forKey: .weightsFormat)
    try c.encode(kvCacheType, forKey: .kvCacheType)
    try c.encode(context, forKey: .context)
    try c.encode(concurrency, forKey: .concurrency)
    try c.encode(hardware, forKey: .hardware)
    try c.encode(hardwareKind, forKey: .hardwareKind)
    try c.encode(hardwareSpec, forKey: .hardwareSpec)
    try c.encode(computePrecision, forKey: .computePrecision)
    try c.encode(weightsBytes, forKey: .weightsBytes)
    try c.encode(weightsBytesPerDevice, forKey: .weightsBytesPerDevice)
    try c.encode(kvBytesPerToken, forKey: .kvBytesPerToken)
    try c.encode(kvBytesPerSequence, forKey: .kvBytesPerSequence)
    try c.encode(kvBytesTotal, forKey: .kvBytesTotal)
    try c.encode(runtimeOverheadBytes, forKey: .runtimeOverheadBytes)
    try c.encode(memoryUsedPerDeviceBytes, forKey: .memoryUsedPerDeviceBytes)
    try c.encode(memory, forKey: .memory)
    try c.encode(devices, forKey: .devices)
    try c.encode(gpus, forKey: .gpus)
    try c.encode(layout.tensorParallel, forKey: .tensorParallel)
    try c.encode(layout.pipelineParallel, forKey: .pipelineParallel)
    try c.encode(maxConcurrency, forKey: .maxConcurrency)
    try c.encode(decodeEfficiency, forKey: .decodeEfficiency)
    try c.encode(prefillEfficiency, forKey: .prefillEfficiency)
    try c.encode(Self.round(decodeTokensPerS), forKey: .decodeTokensPerS)
    try c.encode(Self.round(decodeTokensPerSTotal), forKey: .decodeTokensPerSTotal)
    try c.encode(Self.round(decodeTokensPerSSingle), forKey: .decodeTokensPerSSingle)
    try c.encode(decodeStep.boundBy, forKey: .decodeBoundBy)
    try c.encode(decodeStep, forKey: .decodeStep)
    try c.encode(Self.round(prefillTokensPerS), forKey: .prefillTokensPerS)
    try c.encode(prefill, forKey: .prefill)
    try c.encode(promptTokens, forKey: .promptTokens)
    try c.encode(outputTokens, forKey: .outputTokens)
    try c.encode(Self.round(ttftS, 4), forKey: .ttftS)
    try c.encode(Self.round(requestLatencyS, 4), forKey: .requestLatencyS)
    try c.encode(Self.round(saturatedOutputTokensPerS), forKey: .saturatedOutputTokensPerS)
    try c.encode(pricePerHour, forKey: .pricePerHour)
    try c.encode(spotPricePerHour, forKey: .spotPricePerHour)
    try c.encode(costPerMillionTokens.map { Self.round($0, 4) }, forKey: .costPerMillionTokens)
    try c.encode(costPerMillionTokensSpot.map { Self.round($0, 4) }, forKey: .costPerMillionTokensSpot)
    try c.encode(qps, forKey: .qps)
    try c.encode(replicas, forKey: .replicas)
    try c.encode(serving, forKey: .serving)
    try c.encode(costPerMonth.map { Self.round($0) }, forKey: .costPerMonth)
    try c.encode(costPerMonthSpot.map { Self.round($0) }, forKey: .costPerMonthSpot)
    try c.encode(targets, forKey: .targets)
    try c.encode(targetsMet, forKey: .targetsMet)
    try c.encode(kubernetes, forKey: .kubernetes)
    try c.encode(notes, forKey: .notes)
  }

  static func round(_ x: Double, _ places: Int = 2) -> Double {
    let p = pow(10.0, Double(places))
    return (x * p).rounded() / p
  }

  /// Pretty JSON with sorted keys, so output diffs cleanly.
  public func json() -> String {
    let e = JSONEncoder()
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    // Nested structs (memory, decode_step, serving) follow the top level's snake_case.
    e.keyEncodingStrategy = .convertToSnakeCase
    e.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    // Encoding plain structs of numbers and strings cannot fail.
    let data = (try? e.encode(self)) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
  }
}

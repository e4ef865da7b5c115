import Foundation

/// The capacity and cost planner: pure arithmetic from a request to a plan.
public enum Planner {
  /// Pipeline stages (nodes) tried after tensor parallelism inside a node runs out.
  public static let maxPipelineStages = 8

  /// Layouts in the order they are tried: one node first (tensor parallel over NVLink, fewest
  /// devices first), then whole nodes as pipeline stages. TP is a power of two up to the devices per
  /// node that splits the heads evenly; a CPU is one device.
  public static func candidateLayouts(for m: ModelSpec, on hw: Hardware) -> [Layout] {
    let perNode = hw.effectiveDevicesPerNode
    let tps = [1, 2, 4, 8, 16, 32, 64].filter { $0 <= perNode && Layout.isValid(tensorParallel: $0, for: m) }
    var out = tps.map { Layout(tensorParallel: $0) }
    if hw.kind == .gpu, let full = tps.last, m.layers >= 2 {
      for pp in 2...min(maxPipelineStages, m.layers) { out.append(Layout(tensorParallel: full, pipelineParallel: pp)) }
    }
    return out
  }

  public static func plan(_ r: PlanRequest) throws(PlannerError) -> CapacityPlan {
    try r.validate()
    let m = r.model, hw = r.hardware
    let w = try m.weights(r.weights)
    let precision = r.weights?.computePrecision ?? m.storedPrecision
    func memory(_ l: Layout) -> DeviceMemory {
      DeviceMemory(model: m, weights: w, kv: r.kv, context: r.context, hardware: hw, layout: l, utilization: r.memoryUtilization)
    }

    let layouts = candidateLayouts(for: m, on: hw).filter { r.tensorParallel == nil || $0.tensorParallel == r.tensorParallel }
    guard let layout = layouts.first(where: { memory($0).maxConcurrency >= r.concurrency }) else {
      throw doesNotFit(r, w, largest: layouts.last.map { ($0, memory($0)) })
    }
    let mem = memory(layout)
    let roof = Roofline(model: m, weights: w, hardware: hw, precision: precision, kv: r.kv, layout: layout,
                        decodeEfficiency: r.decodeEfficiency, prefillEfficiency: r.prefillEfficiency)

    let prompt = r.effectivePromptTokens, output = r.effectiveOutputTokens
    // Decode is planned at the full context: the last token of the longest sequence is the slowest.
    let step = roof.decodeStep(batch: r.concurrency, context: r.context)
    let single = roof.decodeStep(batch: 1, context: r.context)
    let prefill = roof.prefill(prompt: prompt)
    let latency = prefill.seconds + Double(output) * step.seconds
    // A saturated replica alternates prefills with batched decode steps.
    let saturated = Double(output) / (prefill.seconds + Double(output) * step.seconds / Double(r.concurrency))

    let price = r.effectivePricePerHour, spot = r.effectiveSpotPricePerHour
    func perMillion(_ p: Double?) -> Double? { p.map { $0 * Double(layout.devices) / 3600 / saturated * 1e6 } }

    var serving: ServingEstimate? = nil
    if let qps = r.qps {
      serving = Queueing.size(qps: qps, slots: r.concurrency, prefillSeconds: prefill.seconds, stepSeconds: step.seconds,
                              outputTokens: output, p99Target: r.targets.p99Seconds, ttftTarget: r.targets.ttftSeconds)
      if serving == nil {
        throw .invalid(field: "--qps", "\(qps) needs more than \(Queueing.maxReplicas) replicas")
      }
    }
    let replicas = serving?.replicas ?? 1
    func perMonth(_ p: Double?) -> Double? {
      serving == nil ? nil : p.map { $0 * Double(layout.devices * replicas) * 730 }  // 730 hours a month
    }

    var plan = CapacityPlan(
      model: m.name, parameters: w.parameters,
      activeParameters: Int(w.activeMatmulParameters(m)) + w.embedding.parameters + w.output.parameters,
      weightsFormat: r.weights?.rawValue ?? "as stored (\(w.fileType ?? w.mainType ?? "mixed"))", kvCacheType: r.kv.rawValue,
      context: r.context, concurrency: r.concurrency, hardware: hw.name, hardwareKind: hw.kind, hardwareSpec: hw,
      computePrecision: precision,
      weightsBytes: Int(w.bytes.rounded()), weightsBytesPerDevice: Int(mem.weights.rounded()),
      kvBytesPerToken: Int(m.kvBytesPerToken(r.kv).rounded(.up)),
      kvBytesPerSequence: Int(m.kvBytesPerSequence(context: r.context, r.kv).rounded(.up)),
      kvBytesTotal: Int((Double(r.concurrency) * m.kvBytesPerSequence(context: r.context, r.kv)).rounded(.up)),
      runtimeOverheadBytes: Int(mem.overhead.rounded()), memory: mem,
      memoryUsedPerDeviceBytes: Int(mem.used(concurrency: r.concurrency).rounded()),
      layout: layout, maxConcurrency: mem.maxConcurrency,
      decodeEfficiency: roof.decodeEfficiency, prefillEfficiency: roof.prefillEfficiency,
      decodeTokensPerS: 1 / step.seconds, decodeTokensPerSTotal: Double(r.concurrency) / step.seconds,
      decodeTokensPerSSingle: 1 / single.seconds, decodeStep: step,
      prefillTokensPerS: Double(prompt) / prefill.seconds, prefill: prefill, promptTokens: prompt, outputTokens: output,
      ttftS: prefill.seconds, requestLatencyS: latency, saturatedOutputTokensPerS: saturated,
      pricePerHour: price, spotPricePerHour: spot, costPerMillionTokens: perMillion(price),
      costPerMillionTokensSpot: perMillion(spot), qps: r.qps, replicas: replicas, serving: serving,
      costPerMonth: perMonth(price), costPerMonthSpot: perMonth(spot), targets: [], kubernetes: "", notes: [])
    plan.targets = checks(r.targets, plan)
    plan.notes = notes(r, plan, w)
    plan.kubernetes = Kubernetes.snippet(plan, request: r)
    return plan
  }

  /// Each target against the prediction; under load (with --qps) TTFT and P99 include queueing.
  static func checks(_ t: Targets, _ p: CapacityPlan) -> [TargetCheck] {
    var out: [TargetCheck] = []
    if let x = t.tokensPerSecond {
      out.append(TargetCheck(name: "tokens/s per stream", target: x, predicted: p.decodeTokensPerS, met: p.decodeTokensPerS >= x))
    }
    if let x = t.ttftSeconds {
      let v = p.serving?.p99TTFTSeconds ?? p.ttftS
      out.append(TargetCheck(name: p.serving == nil ? "TTFT (s)" : "P99 TTFT (s)", target: x, predicted: v, met: v <= x))
    }
    if let x = t.p99Seconds {
      let v = p.serving?.p99LatencySeconds ?? p.requestLatencyS
      out.append(TargetCheck(name: p.serving == nil ? "request latency (s)" : "P99 latency (s)", target: x, predicted: v, met: v <= x))
    }
    return out
  }

  static func notes(_ r: PlanRequest, _ p: CapacityPlan, _ w: WeightBreakdown) -> [String] {
    var n: [String] = []
    if r.model.slidingWindow != nil, r.model.localLayers > 0 {
      n.append("\(r.model.localLayers) of \(r.model.layers) layers use a \(r.model.slidingWindow!)-token sliding window: their KV cache holds only the window")
    }
    if r.model.isMoE {
      n.append("MoE: \(r.model.activeExperts) of \(r.model.experts) experts per token; a decode step over \(r.concurrency) sequences reads the experts they route to")
    }
    if p.layout.pipelineParallel > 1 {
      n.append("pipeline parallel across \(p.layout.pipelineParallel) nodes: stages run in turn, so a step is no faster than on one node")
    }
    if r.weights == .fp8, r.hardware.fp8TFLOPS == nil {
      n.append("\(r.hardware.name) has no FP8 arithmetic: FP8 weights are dequantized and prefill runs at the FP16 peak")
    }
    if p.serving != nil, let t = r.targets.p99Seconds, p.requestLatencyS >= t {
      n.append("the P99 target is below one request's own latency at this batch (\(String(format: "%.2f", p.requestLatencyS)) s): more replicas cannot meet it; lower --concurrency, shorten the output, or add devices")
    }
    if p.serving != nil, let t = r.targets.ttftSeconds, p.ttftS >= t {
      n.append("the TTFT target is below the prefill time of one prompt (\(String(format: "%.2f", p.ttftS)) s): more replicas cannot meet it; add devices (more tensor parallelism) or a faster GPU")
    }
    if p.costPerMillionTokens == nil { n.append("no price given: pass --price-per-hour (and --spot-price-per-hour) per device") }
    return n
  }

  /// The error for a request no layout can hold, with what the largest one offers.
  static func doesNotFit(_ r: PlanRequest, _ w: WeightBreakdown, largest: (Layout, DeviceMemory)?) -> PlannerError {
    let field = r.hardware.kind == .gpu ? "--gpu" : "--cpu"
    guard let (l, mem) = largest else {
      return .invalid(field: field, "\(r.hardware.name): no tensor-parallel degree splits \(r.model.name)'s \(r.model.heads) heads / \(r.model.kvHeads) KV heads")
    }
    let where_ = l.devices == 1 ? "one \(r.hardware.name)" : "\(l.devices) × \(r.hardware.name) (TP \(l.tensorParallel), PP \(l.pipelineParallel))"
    if mem.maxConcurrency >= 1 {
      return .invalid(field: "--concurrency", "\(r.concurrency): at most \(mem.maxConcurrency) sequences of \(r.context) tokens fit on \(where_)")
    }
    return .doesNotFit("\(field) \(r.hardware.name): \(r.model.name) (\(Format.gib(w.bytes)) of weights) with one \(r.context)-token sequence does not fit on \(where_)")
  }
}

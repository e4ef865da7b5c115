import Foundation

/// One `hearth bench --json` result: prompt processing (pp) and generation (tg) speeds on one model.
public struct BenchResult: Sendable, Equatable, Codable {
  public var model: String
  public var threads: Int
  public var pp: Int
  public var tg: Int
  public var ppTps: Double
  public var tgTps: Double
  public var ppTpsRuns: [Double]?
  public var tgTpsRuns: [Double]?
  public var loadS: Double?
  public var rssBytes: Int?

  enum CodingKeys: String, CodingKey {
    case model, threads, pp, tg
    case ppTps = "pp_tps", tgTps = "tg_tps", ppTpsRuns = "pp_tps_runs", tgTpsRuns = "tg_tps_runs"
    case loadS = "load_s", rssBytes = "rss_bytes"
  }

  public init(model: String, threads: Int, pp: Int, tg: Int, ppTps: Double, tgTps: Double,
              ppTpsRuns: [Double]? = nil, tgTpsRuns: [Double]? = nil, loadS: Double? = nil, rssBytes: Int? = nil) {
    self.model = model
    self.threads = threads
    self.pp = pp
    self.tg = tg
    self.ppTps = ppTps
    self.tgTps = tgTps
    self.ppTpsRuns = ppTpsRuns
    self.tgTpsRuns = tgTpsRuns
    self.loadS = loadS
    self.rssBytes = rssBytes
  }

  /// The median of the runs when there are any (robust to one slow run), else the reported figure.
  public var medianPP: Double { Self.median(ppTpsRuns) ?? ppTps }
  public var medianTG: Double { Self.median(tgTpsRuns) ?? tgTps }

  static func median(_ xs: [Double]?) -> Double? {
    guard let xs, !xs.isEmpty else { return nil }
    let s = xs.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
  }
}

/// What was measured about this machine, independent of any model.
public struct MachineProfile: Sendable, Equatable, Codable {
  public var cpu: String
  public var threads: Int
  public var memoryBytes: Double
  /// Multi-threaded read bandwidth of a buffer far larger than the caches.
  public var bandwidthBytesPerSecond: Double
  /// Multi-threaded f32 multiply-add rate of Swift SIMD code (FLOPs/s, baseline ISA).
  public var vectorFlopsPerSecond: Double

  public init(cpu: String, threads: Int, memoryBytes: Double, bandwidthBytesPerSecond: Double, vectorFlopsPerSecond: Double) {
    self.cpu = cpu
    self.threads = threads
    self.memoryBytes = memoryBytes
    self.bandwidthBytesPerSecond = bandwidthBytesPerSecond
    self.vectorFlopsPerSecond = vectorFlopsPerSecond
  }

  /// This machine as a catalogue entry; with no calibration, default CPU efficiencies apply.
  public func hardware(_ c: Calibration? = nil) -> Hardware {
    Hardware(
      name: Catalog.thisMachine, kind: .cpu, memoryGiB: memoryBytes / 1_073_741_824,
      bandwidthGBps: bandwidthBytesPerSecond / 1e9, fp16TFLOPS: vectorFlopsPerSecond / 1e12,
      int8TOPS: vectorFlopsPerSecond / 1e12, cores: threads, decodeEfficiency: c?.decodeEfficiency,
      packedDecodeEfficiency: c?.packedDecodeEfficiency, prefillEfficiency: c?.prefillEfficiency, decodeOverheadPerLayerSeconds: c?.decodeOverheadPerLayerSeconds,
      prefillOverheadPerLayerSeconds: c?.prefillOverheadPerLayerSeconds,
      source: c == nil ? "measured now (\(cpu), \(threads) threads); not calibrated" : "calibrated \(c!.created) (\(cpu), \(threads) threads)")
  }
}

/// Fitted CPU speed model: per phase, an efficiency against the roofline plus a fixed time per layer
/// per token (thread barriers, small-op dispatch) that dominates on small models.
public struct Calibration: Sendable, Equatable, Codable {
  public struct Sample: Sendable, Equatable, Codable {
    public var model: String
    public var measuredDecodeTokensPerS: Double
    public var measuredPrefillTokensPerS: Double
    public var predictedDecodeTokensPerS: Double
    public var predictedPrefillTokensPerS: Double
  }

  public var version = 1
  public var created: String
  public var machine: MachineProfile
  public var decodeEfficiency: Double
  /// The decode efficiency of bit-packed weights, fitted apart when the benched models mix them
  /// with 8-bit and float weights in different shares (nil: `decodeEfficiency` for every byte).
  public var packedDecodeEfficiency: Double? = nil
  public var decodeOverheadPerLayerSeconds: Double
  public var prefillEfficiency: Double
  public var prefillOverheadPerLayerSeconds: Double
  public var samples: [Sample]

  public var hardware: Hardware { machine.hardware(self) }

  /// A bench result and the model it ran.
  public struct Input: Sendable {
    public var model: ModelSpec
    public var bench: BenchResult
    public init(model: ModelSpec, bench: BenchResult) { self.model = model; self.bench = bench }
  }

  /// Fits both phases to bench results, opening each result's GGUF for its tensor sizes.
  public static func fit(results: [BenchResult], machine: MachineProfile) throws(PlannerError) -> Calibration {
    var inputs: [Input] = []
    for r in results { inputs.append(Input(model: try ModelSpec(ggufPath: r.model), bench: r)) }
    return try fit(inputs, machine: machine)
  }

  /// Least squares in relative error, per phase, of the planner's own CPU model:
  /// time per token t ≈ max(k·x, floor) + o·layers, where x is the roofline time at full efficiency
  /// (FLOPs ÷ vector peak for prefill; bytes ÷ bandwidth for decode, whose floor is its arithmetic at
  /// the fitted prefill rate). The efficiency is 1/k; o ≥ 0 is the fixed time per layer per token.
  public static func fit(_ inputs: [Input], machine: MachineProfile) throws(PlannerError) -> Calibration {
    guard !inputs.isEmpty else { throw .invalid(field: "--models", "calibration needs at least one bench result") }
    for i in inputs {
      let b = i.bench
      guard b.medianTG > 0, b.medianTG.isFinite, b.medianPP > 0, b.medianPP.isFinite, b.pp > 0, b.tg > 0 else {
        throw .benchFailed(model: b.model, "pp_tps, tg_tps, pp and tg must be positive")
      }
    }
    let hw = machine.hardware()
    var prefillRows: [Row] = []
    var decodeInputs: [(decode: StepTime, packed: Double, layers: Double, t: Double)] = []
    for i in inputs {
      let weights = try i.model.weights(nil)
      let roof = Roofline(model: i.model, weights: weights, hardware: hw, precision: i.model.storedPrecision,
                          kv: .f16, decodeEfficiency: 1, prefillEfficiency: 1)
      let layers = Double(i.model.layers)
      let p = roof.prefill(prompt: i.bench.pp)
      prefillRows.append(Row(x: p.computeSeconds / Double(i.bench.pp), floor: 0, layers: layers, t: 1 / i.bench.medianPP))
      let packed = weights.decodePackedBytes(i.model, batch: 1) / hw.bandwidthBytesPerSecond
      decodeInputs.append((roof.decodeStep(batch: 1, context: decodeContext(i.bench)), packed, layers, 1 / i.bench.medianTG))
    }
    let (kp, op) = fitRoofline(prefillRows)
    let decodeRows = decodeInputs.map { Row(x: $0.decode.memorySeconds, floor: $0.decode.computeSeconds * kp, layers: $0.layers, t: $0.t) }
    var (kd, od) = fitRoofline(decodeRows)
    var kPacked: Double?
    // Packed and streamed bytes get their own efficiency when the models mix them in clearly
    // different shares (one model, or models all alike, cannot tell the two apart).
    let shares = decodeInputs.map { $0.packed / $0.decode.memorySeconds }
    if inputs.count >= 3, let lo = shares.min(), let hi = shares.max(), hi - lo >= 0.2 {
      let split = fitTwoClasses(zip(decodeRows, decodeInputs).map { r, i in
        SplitRow(streamed: r.x - i.packed, packed: i.packed, floor: r.floor, layers: r.layers, t: r.t)
      })
      (kd, od, kPacked) = (split.kStreamed, split.o, split.kPacked)
    }
    var c = Calibration(
      created: ISO8601DateFormatter().string(from: Date()), machine: machine,
      decodeEfficiency: 1 / kd, packedDecodeEfficiency: kPacked.map { 1 / $0 }, decodeOverheadPerLayerSeconds: od,
      prefillEfficiency: 1 / kp, prefillOverheadPerLayerSeconds: op, samples: [])
    for i in inputs {
      let p = try Planner.predictCPU(model: i.model, calibration: c, promptTokens: i.bench.pp, generatedTokens: i.bench.tg)
      c.samples.append(Sample(model: i.bench.model, measuredDecodeTokensPerS: i.bench.medianTG,
                              measuredPrefillTokensPerS: i.bench.medianPP, predictedDecodeTokensPerS: p.decode,
                              predictedPrefillTokensPerS: p.prefill))
    }
    return c
  }

  /// Generation in a bench starts from an empty context: on average a token attends to half of tg.
  static func decodeContext(_ b: BenchResult) -> Int { max(1, b.tg / 2) }

  /// A decode row with its roofline seconds split: streamed (8-bit, float weights and the KV
  /// cache) and bit-packed weights, both at full bandwidth.
  struct SplitRow { var streamed: Double, packed: Double, floor: Double, layers: Double, t: Double }

  /// Minimises Σ((max(kₛ·sᵢ + kₚ·pᵢ, floorᵢ) + o·Lᵢ)/tᵢ − 1)² over kₛ, kₚ > 0, o ≥ 0: a log grid over
  /// both factors (o closed-form for each pair), refined twice around the best.
  static func fitTwoClasses(_ rows: [SplitRow]) -> (kStreamed: Double, kPacked: Double, o: Double) {
    func evaluate(_ ks: Double, _ kq: Double) -> (o: Double, loss: Double) {
      var num = 0.0, den = 0.0
      for r in rows {
        let b = r.layers / r.t
        num += b * (1 - max(ks * r.streamed + kq * r.packed, r.floor) / r.t)
        den += b * b
      }
      let o = den > 0 ? max(0, num / den) : 0
      var loss = 0.0
      for r in rows {
        let e = (max(ks * r.streamed + kq * r.packed, r.floor) + r.layers * o) / r.t - 1
        loss += e * e
      }
      return (o, loss)
    }
    var box = (sLo: log(1e-2), sHi: log(1e2), pLo: log(1e-2), pHi: log(1e2))
    var best = (s: 0.0, p: 0.0)
    for _ in 0..<3 {
      let n = 120
      var bestLoss = Double.infinity
      for i in 0...n {
        let ls = box.sLo + (box.sHi - box.sLo) * Double(i) / Double(n)
        for j in 0...n {
          let lp = box.pLo + (box.pHi - box.pLo) * Double(j) / Double(n)
          let l = evaluate(exp(ls), exp(lp)).loss
          if l < bestLoss { bestLoss = l; best = (ls, lp) }
        }
      }
      let ds = (box.sHi - box.sLo) / Double(n), dp = (box.pHi - box.pLo) / Double(n)
      box = (best.s - ds, best.s + ds, best.p - dp, best.p + dp)
    }
    let ks = exp(best.s), kq = exp(best.p)
    return (ks, kq, evaluate(ks, kq).o)
  }

  /// One measured phase of one model: roofline seconds `x` at full efficiency, a `floor` the time
  /// can't go below, the layer count, and the measured seconds per token `t`.
  struct Row { var x: Double, floor: Double, layers: Double, t: Double }

  /// Minimises Σ((max(k·xᵢ, floorᵢ) + o·Lᵢ)/tᵢ − 1)² over k > 0, o ≥ 0. For a given k the best o is
  /// closed-form, so k is searched on a log grid (10⁻³…10³) and refined twice. One row can't
  /// separate o from k, so o stays 0.
  static func fitRoofline(_ rows: [Row]) -> (k: Double, o: Double) {
    func evaluate(_ k: Double) -> (o: Double, loss: Double) {
      var num = 0.0, den = 0.0
      for r in rows {
        let b = r.layers / r.t
        num += b * (1 - max(r.x * k, r.floor) / r.t)
        den += b * b
      }
      let o = rows.count >= 2 && den > 0 ? max(0, num / den) : 0
      var loss = 0.0
      for r in rows {
        let e = (max(r.x * k, r.floor) + r.layers * o) / r.t - 1
        loss += e * e
      }
      return (o, loss)
    }
    var lo = log(1e-3), hi = log(1e3), best = 0.0
    for _ in 0..<3 {
      let n = 400
      var bestLoss = Double.infinity
      for j in 0...n {
        let lk = lo + (hi - lo) * Double(j) / Double(n)
        let l = evaluate(exp(lk)).loss
        if l < bestLoss { bestLoss = l; best = lk }
      }
      let step = (hi - lo) / Double(n)
      lo = best - step
      hi = best + step
    }
    let k = exp(best)
    return (k, evaluate(k).o)
  }

  // MARK: - Files

  /// `$HEARTH_HOME/calibration.json`, else `~/.hearth/calibration.json`.
  public static func defaultPath(environment env: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if let h = env["HEARTH_HOME"], !h.isEmpty { return h + "/calibration.json" }
    let home = env["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? FileManager.default.homeDirectoryForCurrentUser.path
    return home + "/.hearth/calibration.json"
  }

  public static func load(path: String) throws(PlannerError) -> Calibration {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw .badCalibration(path: path, "cannot read (run `hearth plan --calibrate` first): \(error.localizedDescription)")
    }
    let c: Calibration
    do { c = try decoder.decode(Calibration.self, from: data) } catch {
      throw .badCalibration(path: path, Catalog.describe(error))
    }
    guard c.version == 1 else { throw .badCalibration(path: path, "version \(c.version) is not supported (expected 1)") }
    let values = [c.decodeEfficiency, c.packedDecodeEfficiency ?? 1, c.prefillEfficiency, c.machine.bandwidthBytesPerSecond,
                  c.machine.vectorFlopsPerSecond, c.machine.memoryBytes]
    guard values.allSatisfy({ $0 > 0 && $0.isFinite }),
          c.decodeOverheadPerLayerSeconds >= 0, c.prefillOverheadPerLayerSeconds >= 0, c.machine.threads >= 1 else {
      throw .badCalibration(path: path, "efficiencies, bandwidth, FLOPs and memory must be positive; overheads not negative")
    }
    return c
  }

  /// Writes pretty JSON, creating the directory.
  public func save(path: String) throws(PlannerError) {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.prettyPrinted, .sortedKeys]
    do {
      let dir = URL(fileURLWithPath: path).deletingLastPathComponent()
      try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
      try e.encode(self).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw .badCalibration(path: path, "cannot write: \(error.localizedDescription)")
    }
  }

  static var decoder: JSONDecoder {
    let d = JSONDecoder()
    d.keyDecodingStrategy = .convertFromSnakeCase
    return d
  }
}

extension Planner {
  /// Predicted CPU speeds for a GGUF on a calibrated machine, in the shape of `hearth bench`:
  /// decode from an empty context over `generatedTokens`, prefill of a `promptTokens` prompt.
  public static func predictCPU(model: ModelSpec, calibration c: Calibration, promptTokens: Int = 512,
                                generatedTokens: Int = 128) throws(PlannerError) -> (decode: Double, prefill: Double) {
    let roof = Roofline(model: model, weights: try model.weights(nil), hardware: c.hardware,
                        precision: model.storedPrecision, kv: .f16)
    let ctx = max(1, generatedTokens / 2)
    let d = roof.decodeStep(batch: 1, context: ctx)
    let p = roof.prefill(prompt: promptTokens)
    return (1 / d.seconds, Double(promptTokens) / p.seconds)
  }
}

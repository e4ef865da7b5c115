import ArgumentParser
import Foundation
import GGUF
import Planner
import Registry
import Server

/// `hearth plan`: hardware, speed and cost for a model before anything is bought; `--calibrate`
/// fits the CPU model to `hearth bench` on this machine.
struct Plan: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    abstract: "Plan devices, memory, speed and cost for serving a model.",
    discussion: """
      Examples:
        hearth plan --preset llama-3.3-70b --weights FP8 --gpu h100-80gb \\
          --context 16384 --concurrency 16 --prompt-tokens 12000 \\
          --qps 2 --target-p99 30 --price-per-hour 3.9
        hearth plan --model model.gguf --context 4096 --cpu
        hearth plan --model smollm2:3 --gpu l4       (a registry model, NAME[:VERSION])
        hearth plan --preset qwen2.5-7b --weights Q4_K --cpu epyc-9654
        hearth plan --list
        hearth plan --calibrate --models models/*.gguf
      docs/planning.md explains how each figure is computed.
      """)

  @Option(help: "A built-in model, e.g. llama-2-70b (see --list).") var preset: String?
  @Option(help: "A GGUF file, or a registry model NAME[:VERSION] (latest version without one), to plan for.") var model: String?
  @Option(help: "Weight format: F16, BF16, Q8_0, Q4_K, INT8, INT4, FP8 (with --model, default: as stored).") var weights: String?
  @Option(help: "KV cache type: F16, Q8_0, FP8.") var kv = "F16"
  @Option(parsing: .unconditional, help: "Tokens per sequence, prompt and output (default: 4096, or the model's maximum if smaller).") var context: Int?
  @Option(parsing: .unconditional, help: "Sequences running at once on one replica.") var concurrency = 1
  @Option(help: "A GPU from the catalogue, e.g. h100-80gb.") var gpu: String?
  @Flag(help: "Plan for a CPU: this machine (from --calibration) or the catalogue CPU named after the flag.") var cpu = false
  @Argument(help: "With --cpu: a CPU from the catalogue, e.g. epyc-9654.") var cpuName: String?
  @Option(parsing: .unconditional, help: "Price per device per hour, on demand.") var pricePerHour: Double?
  @Option(parsing: .unconditional, help: "Price per device per hour, spot.") var spotPricePerHour: Double?
  @Option(parsing: .unconditional, help: "Prompt length for TTFT and latency (default: the context less the output).") var promptTokens: Int?
  @Option(parsing: .unconditional, help: "Output tokens per request.") var outputTokens = 256
  @Option(parsing: .unconditional, help: "Target decode tokens/s per stream.") var targetTps: Double?
  @Option(parsing: .unconditional, help: "Target time to first token, seconds.") var targetTtft: Double?
  @Option(parsing: .unconditional, help: "Target 99th-percentile request latency, seconds.") var targetP99: Double?
  @Option(parsing: .unconditional, help: "Requests per second to serve: sizes the replica count.") var qps: Double?
  @Option(help: "A JSON hardware catalogue adding to or overriding the built-in one.") var catalog: String?
  @Option(parsing: .unconditional, help: "Share of device memory the runtime may use.") var memoryUtilization = 0.9
  @Option(parsing: .unconditional, help: "Use this tensor-parallel degree (default: the smallest that fits).") var tensorParallel: Int?
  @Option(parsing: .unconditional, help: "Override the share of peak bandwidth decode reaches.") var decodeEfficiency: Double?
  @Option(parsing: .unconditional, help: "Override the share of peak arithmetic prefill reaches.") var prefillEfficiency: Double?
  @Flag(help: "Print JSON instead of a table.") var json = false
  @OptionGroup var registry: RegistryOptions
  @OptionGroup var masterKey: MasterKeyOption
  @Flag(help: "List the presets and the hardware catalogue.") var list = false
  @Flag(help: "Benchmark the models on this machine and fit the CPU speed model.") var calibrate = false
  @Option(parsing: .upToNextOption, help: "With --calibrate: GGUF files to benchmark (default: every .gguf in $HEARTH_MODELS or ./models).")
  var models: [String] = []
  @Option(parsing: .unconditional, help: "With --calibrate: threads for the benchmark (default: all cores).") var threads: Int?
  @Option(help: "Calibration file (default: $HEARTH_HOME/calibration.json or ~/.hearth/calibration.json).") var calibration: String?

  /// Flag combinations, checked in run() so that a mistake prints one `hearth: error:` line.
  func checkFlags() throws(PlannerError) {
    if let t = threads, t < 1 { throw .invalid(field: "--threads", "must be a positive number (got \(t))") }
    if calibrate || list { return }
    guard (preset == nil) != (model == nil) else { throw .invalid(field: "--preset NAME or --model PATH", "is required (exactly one)") }
    guard (gpu != nil) != cpu else { throw .invalid(field: "--gpu NAME or --cpu [NAME]", "is required (exactly one)") }
    if let name = cpuName, !cpu { throw .invalid(field: "'\(name)'", "is not an option (a CPU name only follows --cpu)") }
  }

  func run() async throws {
    do {
      try checkFlags()
      if calibrate { return try runCalibration() }
      var cat = Catalog()
      if let catalog { try cat.load(path: catalog) }
      if list { return print(planListing(catalog: cat), terminator: "") }
      try await runPlan(catalog: cat)
    } catch {
      switch error {
      case .badModelFile: fail(error.description, code: 2)
      case .benchFailed, .doesNotFit: fail(error.description, code: 1)
      default: fail(error.description, code: 64)
      }
    }
  }

  // MARK: - Planning

  func runPlan(catalog: Catalog) async throws(PlannerError) {
    let spec = try await modelSpec()
    let format: WeightFormat?
    if let w = weights {
      guard let f = WeightFormat(name: w) else {
        throw .invalid(field: "--weights", "'\(w)' is not a weight format (F16, BF16, Q8_0, Q4_K, INT8, INT4, FP8)")
      }
      format = f
    } else {
      format = nil
    }
    guard let kvType = KVCacheType(name: kv) else { throw .invalid(field: "--kv", "'\(kv)' is not a KV cache type (F16, Q8_0, FP8)") }
    let hardware = try hardware(catalog)
    let request = PlanRequest(
      model: spec, weights: format, kv: kvType, context: context ?? min(4096, spec.maxContext), concurrency: concurrency,
      hardware: hardware, promptTokens: promptTokens, outputTokens: outputTokens, pricePerHour: pricePerHour,
      spotPricePerHour: spotPricePerHour, targets: Targets(tokensPerSecond: targetTps, ttftSeconds: targetTtft, p99Seconds: targetP99),
      qps: qps, memoryUtilization: memoryUtilization, decodeEfficiency: decodeEfficiency, prefillEfficiency: prefillEfficiency,
      tensorParallel: tensorParallel)
    let plan = try Planner.plan(request)
    print(json ? plan.json() : plan.table(), terminator: json ? "\n" : "")
  }

  func modelSpec() async throws(PlannerError) -> ModelSpec {
    if let model {
      // A path when something is there (or it looks like one); otherwise a registry reference.
      if FileManager.default.fileExists(atPath: model) || model.contains("/") || model.hasSuffix(".gguf") {
        return try ModelSpec(ggufPath: model)
      }
      return try await registrySpec(model)
    }
    let name = preset ?? ""
    guard let spec = Presets.named(name) else {
      throw .unknownPreset(name, suggestions: Names.closest(to: name, in: Presets.all.map(\.name)))
    }
    return spec
  }

  /// A registry version's architecture, read from its stored GGUF header. Planning needs only the
  /// metadata, so a plain blob gets the registry's cheap checks (signatures, size) but no re-hash;
  /// an encrypted one is decrypted with the master key, which authenticates every chunk.
  func registrySpec(_ text: String) async throws(PlannerError) -> ModelSpec {
    let r = registry.open()
    let m: ModelManifest
    do {
      let ref = try ModelReference(parsing: text)
      m = try r.manifest(name: ref.name.value, version: ref.version?.value)
    } catch .notFound(let name, let version) {
      let what = version.map { "\(name):\($0)" } ?? name
      throw .invalid(field: "--model", "'\(text)': no such file, and no registry model \(what) in \(registry.directory)")
    } catch {
      throw .invalid(field: "--model", "'\(text)': \(error)")
    }
    if m.isEncrypted {
      guard let sealer = await masterKey.sealer(dataDir: registry.directory, required: false) else {
        throw .invalid(field: "--model", "\(m.reference) is encrypted at rest: planning from it needs the master key (--master-key-file FILE or HEARTH_MASTER_KEY)")
      }
      do {
        let (_, bytes) = try await r.openSealed(name: m.name.value, version: m.version.value, sealer: sealer)
        let file = try GGUFFile(taking: bytes)
        return try ModelSpec(gguf: file, path: m.reference)
      } catch let e as PlannerError {
        throw e
      } catch {
        throw .badModelFile(path: m.reference, "\(error)")
      }
    }
    let blob: String
    do { blob = try r.storedFile(m) } catch { throw .badModelFile(path: m.reference, error.description) }
    let file: GGUFFile
    do { file = try GGUFFile(path: blob) } catch { throw .badModelFile(path: m.reference, error.description) }
    return try ModelSpec(gguf: file, path: m.reference)
  }

  /// The device: a catalogue entry, or this machine as calibrated. Uncalibrated, this machine has no
  /// honest figures (its engine's kernels are not what a quick probe measures), so it is refused.
  func hardware(_ catalog: Catalog) throws(PlannerError) -> Hardware {
    if let gpu { return try catalog.find(gpu, field: "--gpu", kind: .gpu) }
    if let name = cpuName, Names.normalize(name) != Catalog.thisMachine {
      return try catalog.find(name, field: "--cpu", kind: .cpu)
    }
    let path = calibration ?? Calibration.defaultPath()
    guard FileManager.default.fileExists(atPath: path) else {
      let cpus = catalog.entries.filter { $0.kind == .cpu }.map(\.name).joined(separator: ", ")
      throw .invalid(field: "--cpu", "without a name needs this machine's calibration, and there is none at \(path): run `hearth plan --calibrate`, or name a CPU (\(cpus))")
    }
    return try Calibration.load(path: path).hardware
  }

  // MARK: - Calibration

  func runCalibration() throws(PlannerError) {
    let paths = try calibrationModels()
    let n = threads ?? ProcessInfo.processInfo.activeProcessorCount
    let log: (String) -> Void = { FileHandle.standardError.write(Data("\($0)\n".utf8)) }
    log("measuring memory bandwidth and vector throughput (\(n) thread\(n == 1 ? "" : "s"))...")
    let machine = MachineProbe.profile(threads: n)
    log(String(format: "  %.1f GB/s read, %.1f GFLOP/s multiply-add", machine.bandwidthBytesPerSecond / 1e9, machine.vectorFlopsPerSecond / 1e9))
    let runner = ProcessBenchRunner(executable: Self.selfExecutable())
    let c = try Calibration.run(models: paths, threads: n, runner: runner, machine: machine, progress: log)
    let path = calibration ?? Calibration.defaultPath()
    try c.save(path: path)
    if json {
      print((try? String(contentsOfFile: path, encoding: .utf8)) ?? "")
      return
    }
    print("calibration saved to \(path)")
    print(String(format: "decode:  efficiency %.3f of %.1f GB/s, %.1f µs per layer per token", c.decodeEfficiency,
                 machine.bandwidthBytesPerSecond / 1e9, c.decodeOverheadPerLayerSeconds * 1e6)
      + (c.packedDecodeEfficiency.map { String(format: "; bit-packed weights (2-6 bits) %.3f", $0) } ?? ""))
    print(String(format: "prefill: efficiency %.3f of %.1f GFLOP/s, %.2f µs per layer per token", c.prefillEfficiency,
                 machine.vectorFlopsPerSecond / 1e9, c.prefillOverheadPerLayerSeconds * 1e6))
    print("model                                        tg meas   tg pred   error   pp meas   pp pred   error")
    for s in c.samples {
      let name = URL(fileURLWithPath: s.model).lastPathComponent
      let padded = name.count >= 42 ? name : name.padding(toLength: 42, withPad: " ", startingAt: 0)
      print(padded + String(format: " %9.1f %9.1f %6.1f%% %9.1f %9.1f %6.1f%%",
                   s.measuredDecodeTokensPerS, s.predictedDecodeTokensPerS,
                   (s.predictedDecodeTokensPerS / s.measuredDecodeTokensPerS - 1) * 100,
                   s.measuredPrefillTokensPerS, s.predictedPrefillTokensPerS,
                   (s.predictedPrefillTokensPerS / s.measuredPrefillTokensPerS - 1) * 100))
    }
  }

  func calibrationModels() throws(PlannerError) -> [String] {
    if !models.isEmpty {
      for m in models where !FileManager.default.fileExists(atPath: m) { throw .invalid(field: "--models", "\(m): no such file") }
      return models
    }
    let dir = ProcessInfo.processInfo.environment["HEARTH_MODELS"] ?? "models"
    let found = ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? [])
      .filter { $0.hasSuffix(".gguf") }.sorted().map { dir + "/" + $0 }
    if found.isEmpty { throw .invalid(field: "--models", "none given and no .gguf files in \(dir)") }
    return found
  }

  /// The running binary, so the benchmark is the same build as the planner.
  static func selfExecutable() -> String {
    if let p = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") { return p }
    return URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL.path
  }
}

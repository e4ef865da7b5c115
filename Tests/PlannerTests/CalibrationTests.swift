import Foundation
import Testing

@testable import Planner

@Suite struct CalibrationTests {
  let machine = MachineProfile(cpu: "synthetic", threads: 2, memoryBytes: 16 * 1_073_741_824,
                               bandwidthBytesPerSecond: 12e9, vectorFlopsPerSecond: 40e9)

  /// Three small models stored as Q4_K, as the local GGUFs are.
  func models() throws -> [ModelSpec] {
    try ["smollm2-135m", "gemma-3-270m", "qwen2.5-0.5b"].map {
      var m = Presets.named($0)!
      m.stored = try m.weights(.q4_K)
      return m
    }
  }

  /// Bench results a machine with known factors would produce, optionally scaled per model.
  func synthetic(_ truth: Calibration, noise: [Double] = [1, 1, 1]) throws -> [Calibration.Input] {
    try zip(models(), noise).map { m, n in
      let p = try Planner.predictCPU(model: m, calibration: truth)
      return Calibration.Input(model: m, bench: BenchResult(model: m.name, threads: 2, pp: 512, tg: 128,
                                                            ppTps: p.prefill * n, tgTps: p.decode / n))
    }
  }

  func truth(decodeEff: Double = 0.55, decodeOverhead: Double = 40e-6, prefillEff: Double = 1.6, prefillOverhead: Double = 3e-6) -> Calibration {
    Calibration(created: "test", machine: machine, decodeEfficiency: decodeEff, decodeOverheadPerLayerSeconds: decodeOverhead,
                prefillEfficiency: prefillEff, prefillOverheadPerLayerSeconds: prefillOverhead, samples: [])
  }

  /// Fitting exact synthetic results recovers the factors that made them.
  @Test func fitRecoversKnownFactors() throws {
    let t = truth()
    let c = try Calibration.fit(try synthetic(t), machine: machine)
    #expect(abs(c.decodeEfficiency / t.decodeEfficiency - 1) < 0.01)
    #expect(abs(c.decodeOverheadPerLayerSeconds / t.decodeOverheadPerLayerSeconds - 1) < 0.02)
    #expect(abs(c.prefillEfficiency / t.prefillEfficiency - 1) < 0.01)
    #expect(abs(c.prefillOverheadPerLayerSeconds / t.prefillOverheadPerLayerSeconds - 1) < 0.02)
    for s in c.samples {
      #expect(abs(s.predictedDecodeTokensPerS / s.measuredDecodeTokensPerS - 1) < 0.01)
      #expect(abs(s.predictedPrefillTokensPerS / s.measuredPrefillTokensPerS - 1) < 0.01)
    }
  }

  /// Models mixing bit-packed and 8-bit weights in different shares get the two efficiencies fitted
  /// apart (CPU kernels stream Q8_0 near memory speed but spend instructions unpacking 4-bit
  /// blocks), and the fit recovers both; models all alike keep one efficiency.
  @Test func packedWeightsGetTheirOwnEfficiency() throws {
    let formats: [WeightFormat] = [.q4_K, .q8_0, .q4_K]
    let mixed = try zip(["smollm2-135m", "gemma-3-270m", "qwen2.5-0.5b"], formats).map { name, f -> ModelSpec in
      var m = Presets.named(name)!
      m.stored = try m.weights(f)
      return m
    }
    #expect(try mixed.map { try $0.weights(nil).packedShare } == [1, 0, 1])
    var t = truth()
    t.packedDecodeEfficiency = 0.3
    let inputs = try mixed.map { m in
      let p = try Planner.predictCPU(model: m, calibration: t)
      return Calibration.Input(model: m, bench: BenchResult(model: m.name, threads: 2, pp: 512, tg: 128, ppTps: p.prefill, tgTps: p.decode))
    }
    let c = try Calibration.fit(inputs, machine: machine)
    #expect(abs(c.decodeEfficiency / 0.55 - 1) < 0.02, "\(c.decodeEfficiency)")
    #expect(abs((c.packedDecodeEfficiency ?? 0) / 0.3 - 1) < 0.02, "\(String(describing: c.packedDecodeEfficiency))")
    for s in c.samples { #expect(abs(s.predictedDecodeTokensPerS / s.measuredDecodeTokensPerS - 1) < 0.01, "\(s.model)") }
    // The same bytes at one efficiency: a single-efficiency fit's 0.3 would miss the Q8_0 model.
    #expect(try Calibration.fit(try synthetic(truth()), machine: machine).packedDecodeEfficiency == nil)
  }

  /// With ±15 % per-model noise every prediction still lands within 25 % of its measurement.
  @Test func noisyFitStaysWithinTolerance() throws {
    let c = try Calibration.fit(try synthetic(truth(), noise: [1.15, 0.85, 1.1]), machine: machine)
    for s in c.samples {
      #expect(abs(s.predictedDecodeTokensPerS / s.measuredDecodeTokensPerS - 1) < 0.25, "\(s.model)")
      #expect(abs(s.predictedPrefillTokensPerS / s.measuredPrefillTokensPerS - 1) < 0.25, "\(s.model)")
    }
  }

  /// Without per-layer overhead the fit finds none, and one model alone fits the efficiency exactly.
  @Test func fitWithoutOverhead() throws {
    let t = truth(decodeOverhead: 0, prefillOverhead: 0)
    let c = try Calibration.fit(try synthetic(t), machine: machine)
    #expect(c.decodeOverheadPerLayerSeconds < 1e-7)
    #expect(abs(c.decodeEfficiency / 0.55 - 1) < 0.01)
    let one = try Calibration.fit(Array(try synthetic(t).prefix(1)), machine: machine)
    #expect(one.decodeOverheadPerLayerSeconds == 0)
    #expect(abs(one.samples[0].predictedDecodeTokensPerS / one.samples[0].measuredDecodeTokensPerS - 1) < 0.01)
  }

  /// A calibrated machine plans with its fitted figures, and predictCPU agrees with the planner.
  @Test func calibratedPlanMatchesPrediction() throws {
    let c = try Calibration.fit(try synthetic(truth()), machine: machine)
    let m = try models()[2]
    let plan = try Planner.plan(PlanRequest(model: m, weights: nil, context: 64 + 1, concurrency: 1, hardware: c.hardware,
                                            promptTokens: 1, outputTokens: 64))
    let p = try Planner.predictCPU(model: m, calibration: c, promptTokens: 512, generatedTokens: 128)
    #expect(abs(plan.decodeTokensPerSSingle / p.decode - 1) < 0.02)
    #expect(plan.hardware == Catalog.thisMachine && plan.decodeEfficiency == c.decodeEfficiency)
  }

  @Test func rejectsBadBenchResults() throws {
    var inputs = try synthetic(truth())
    inputs[1].bench.tgTps = 0
    #expect(throws: PlannerError.self) { try Calibration.fit(inputs, machine: machine) }
    #expect(throws: PlannerError.self) { try Calibration.fit([], machine: machine) }
  }

  /// The bench JSON format, after progress lines; the median of the runs wins over the mean.
  @Test func parsesBenchOutput() throws {
    let out = """
      loading model...
      {"model":"m.gguf","threads":2,"pp":512,"tg":128,"pp_tps":100.5,"tg_tps":30.25,"pp_tps_runs":[90,101,102],"tg_tps_runs":[30,31,29],"load_s":0.4,"rss_bytes":123456}
      """
    let r = try ProcessBenchRunner.parse(out, model: "m.gguf")
    #expect(r.pp == 512 && r.tgTps == 30.25 && r.rssBytes == 123456)
    #expect(r.medianPP == 101 && r.medianTG == 30)
    #expect(throws: PlannerError.self) { try ProcessBenchRunner.parse("Error: unknown subcommand 'bench'", model: "m.gguf") }
  }

  /// A real child process: a script standing in for `hearth bench` prints its JSON; another fails.
  @Test func processRunnerRunsAChild() throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    let ok = dir.appendingPathComponent("ok.sh").path
    try """
      #!/bin/sh
      echo "args: $*" >&2
      echo '{"model":"'$3'","threads":'$5',"pp":'$7',"tg":'$9',"pp_tps":200,"tg_tps":50}'
      """.write(toFile: ok, atomically: true, encoding: .utf8)
    let bad = dir.appendingPathComponent("bad.sh").path
    // As ArgumentParser fails: the error line, then usage text that must not hide it.
    try "#!/bin/sh\necho \"Error: Unexpected argument 'bench'\" >&2\necho 'Usage: hearth <subcommand>' >&2\necho \"  See 'hearth --help' for more information.\" >&2\nexit 64\n"
      .write(toFile: bad, atomically: true, encoding: .utf8)
    for p in [ok, bad] { try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: p) }

    let r = try ProcessBenchRunner(executable: ok).run(model: "x.gguf", threads: 3)
    #expect(r.model == "x.gguf" && r.threads == 3 && r.pp == 512 && r.tg == 128 && r.tgTps == 50)
    do {
      _ = try ProcessBenchRunner(executable: bad).run(model: "x.gguf", threads: 1)
      Issue.record("a failing bench passed")
    } catch {
      #expect(error.description == "calibration: hearth bench on x.gguf failed: exit 64: Error: Unexpected argument 'bench'")
    }
  }

  /// Calibration.run drives the runner for each model and fits the results.
  @Test func runFitsWhatTheRunnerReturns() throws {
    struct Fake: BenchRunner {
      let results: [String: BenchResult]
      func run(model: String, threads: Int) throws(PlannerError) -> BenchResult { results[model]! }
    }
    let path = plannerModelPath("SmolLM2-135M-Instruct.Q4_1.gguf")
    guard FileManager.default.fileExists(atPath: path) else { Issue.record("missing \(path)"); return }
    let fake = Fake(results: [path: BenchResult(model: "whatever", threads: 2, pp: 512, tg: 128, ppTps: 300, tgTps: 60)])
    let c = try Calibration.run(models: [path], threads: 2, runner: fake, machine: machine)
    #expect(c.samples.count == 1 && c.samples[0].model == path)
    #expect(abs(c.samples[0].predictedDecodeTokensPerS / 60 - 1) < 0.01)
  }

  @Test func saveAndLoad() throws {
    let path = FileManager.default.temporaryDirectory.appendingPathComponent("cal-\(UUID().uuidString)/calibration.json").path
    defer { try? FileManager.default.removeItem(atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path) }
    let c = try Calibration.fit(try synthetic(truth()), machine: machine)
    try c.save(path: path)
    #expect(try Calibration.load(path: path) == c)
    let text = try String(contentsOfFile: path, encoding: .utf8)
    #expect(text.contains("\"decode_overhead_per_layer_seconds\""))
    try Data("{\"version\": 1}".utf8).write(to: URL(fileURLWithPath: path))
    #expect(throws: PlannerError.self) { try Calibration.load(path: path) }
    #expect(throws: PlannerError.self) { try Calibration.load(path: path + ".missing") }
  }

  @Test func defaultPath() {
    #expect(Calibration.defaultPath(environment: ["HEARTH_HOME": "/srv/hearth", "HOME": "/root"]) == "/srv/hearth/calibration.json")
    #expect(Calibration.defaultPath(environment: ["HOME": "/home/a"]) == "/home/a/.hearth/calibration.json")
  }

  /// The probes measure something positive (tiny sizes: this is not a benchmark).
  @Test func probesReturnPositiveFigures() {
    #expect(MachineProbe.bandwidth(threads: 2, bytes: 1 << 20, passes: 1) > 0)
    #expect(MachineProbe.vectorFLOPs(threads: 2, iterations: 1000, passes: 1) > 0)
    #expect(MachineProbe.memoryBytes() > 0)
  }
}

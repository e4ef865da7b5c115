import Foundation

/// Runs one benchmark; calibration depends on this protocol so tests can stand in for `hearth bench`.
public protocol BenchRunner {
  func run(model: String, threads: Int) throws(PlannerError) -> BenchResult
}

/// Runs `EXECUTABLE bench --model PATH --threads N --pp 512 --tg 128 --reps 3 --json` as a child
/// process and reads the JSON line it prints.
public struct ProcessBenchRunner: BenchRunner {
  public var executable: String
  public var pp: Int
  public var tg: Int
  public var reps: Int

  public init(executable: String, pp: Int = 512, tg: Int = 128, reps: Int = 3) {
    self.executable = executable
    self.pp = pp
    self.tg = tg
    self.reps = reps
  }

  public func arguments(model: String, threads: Int) -> [String] {
    ["bench", "--model", model, "--threads", String(threads), "--pp", String(pp), "--tg", String(tg),
     "--reps", String(reps), "--json"]
  }

  public func run(model: String, threads: Int) throws(PlannerError) -> BenchResult {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: executable)
    p.arguments = arguments(model: model, threads: threads)
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    do { try p.run() } catch { throw .benchFailed(model: model, "cannot start \(executable): \(error.localizedDescription)") }
    // Drain stderr on another thread so a chatty child can't fill the pipe and stall.
    let errBox = DataBox()
    let group = DispatchGroup()
    group.enter()
    DispatchQueue.global().async {
      errBox.data = err.fileHandleForReading.readDataToEndOfFile()
      group.leave()
    }
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    group.wait()
    let stderr = String(decoding: errBox.data, as: UTF8.self)
    guard p.terminationStatus == 0 else {
      // The line that says what went wrong, not the usage text that may follow it.
      let lines = stderr.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
      let why = lines.last { $0.lowercased().contains("error") } ?? lines.first ?? "no message"
      throw .benchFailed(model: model, "exit \(p.terminationStatus): \(why)")
    }
    return try Self.parse(String(decoding: stdout, as: UTF8.self), model: model)
  }

  /// The last line of `output` that is a JSON object (the bench may print progress before it).
  public static func parse(_ output: String, model: String) throws(PlannerError) -> BenchResult {
    let lines = output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    let whole = output.trimmingCharacters(in: .whitespacesAndNewlines)
    for text in [whole] + lines.reversed() where text.hasPrefix("{") {
      if let r = try? JSONDecoder().decode(BenchResult.self, from: Data(text.utf8)) { return r }
    }
    let shown = whole.count > 200 ? String(whole.prefix(200)) + "..." : whole
    throw .benchFailed(model: model, "no bench JSON (model, threads, pp, tg, pp_tps, tg_tps) in its output: \(shown.isEmpty ? "(empty)" : shown)")
  }
}

/// Carries the stderr bytes out of the reader closure.
private final class DataBox: @unchecked Sendable {
  var data = Data()
}

extension Calibration {
  /// Benchmarks every model with `runner`, measures the machine, and fits.
  public static func run(models: [String], threads: Int, runner: BenchRunner, machine: MachineProfile,
                         progress: (String) -> Void = { _ in }) throws(PlannerError) -> Calibration {
    var results: [BenchResult] = []
    for m in models {
      progress("bench \(m) (\(threads) thread\(threads == 1 ? "" : "s"))")
      let r = try runner.run(model: m, threads: threads)
      progress(String(format: "  pp%d %.1f tok/s, tg%d %.1f tok/s", r.pp, r.medianPP, r.tg, r.medianTG))
      var fixed = r
      fixed.model = m  // the path we passed, so fit() can reopen the file whatever the bench printed
      results.append(fixed)
    }
    return try fit(results: results, machine: machine)
  }
}

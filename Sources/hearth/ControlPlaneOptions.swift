import ArgumentParser
import ControlPlane
import Foundation
import Logging

/// `--data-dir` and the master key options shared by `keys`, `tenants`, `users` and `audit`. These
/// commands act directly on the data dir as the local operator (whoever can read it holds every secret
/// in it already); each change is audited as `cli:<login>`.
struct DataDirOptions: ParsableArguments {
  @Option(name: .customLong("data-dir"), help: "Hearth's state directory (default: $HEARTH_HOME or ~/.hearth).")
  var dataDir: String?
  @Option(name: .customLong("master-key-file"), help: "Master key for encryption at rest (default: $HEARTH_MASTER_KEY, base64).")
  var masterKeyFile: String?

  var directory: String { dataDir ?? ControlPlaneConfig.defaultDataDir() }

  /// Opens the control plane or exits with one line. Read-only commands pass `mustExist`, so a mistyped
  /// --data-dir is reported instead of creating an empty one.
  func open(mustExist: Bool = true, logLevel: Logger.Level = .warning) async -> ControlPlaneServices {
    let db = (directory as NSString).appendingPathComponent(SQLiteControlStore.fileName)
    if mustExist && !FileManager.default.fileExists(atPath: db) {
      fail("no Hearth data in \(directory) (run hearth serve once, or give --data-dir)", code: 1)
    }
    var config = ControlPlaneConfig(dataDir: directory, masterKey: MasterKeySource.resolve(file: masterKeyFile))
    // A command reports what it did in one line of its own; the server passes .info to log refused keys.
    config.logger.logLevel = logLevel
    return await orFail {
      let cp = try await ControlPlaneServices.open(config)
      _ = try await cp.tenants.ensureSystemTenant(by: .localOperator())
      return cp
    }
  }
}

/// Runs `body`, turning any error into one line on stderr and exit status 1.
@discardableResult
func orFail<T>(_ body: () async throws -> T) async -> T {
  do { return try await body() } catch {
    fail("\(error)", code: 1)
  }
}

/// The caller at the terminal: a system administrator.
var cliOperator: Principal { .localOperator() }

/// Parses an ISO 8601 time (`2027-01-31`, `2027-01-31T12:00:00Z`) or, with `relative`, a duration from
/// now (`90m`, `12h`, `30d`).
func parseTime(_ s: String, option: String, relative: Bool = false) -> Date {
  if relative, let unit = s.last, let n = Double(s.dropLast()), n > 0 {
    let scale: Double? = ["m": 60, "h": 3600, "d": 86400][unit]
    if let scale { return Date().addingTimeInterval(n * scale) }
  }
  let full = ISO8601DateFormatter()
  if let d = full.date(from: s) { return d }
  let day = ISO8601DateFormatter()
  day.formatOptions = [.withFullDate]
  if let d = day.date(from: s) { return d }
  fail("\(option): expected an ISO 8601 date or time\(relative ? " or a duration like 30d" : "") , got '\(s)'", code: 64)
}

/// Finds a tenant by id or name, or exits naming it.
func tenantID(_ idOrName: String, _ cp: ControlPlaneServices) async -> String {
  await orFail { try await cp.tenants.get(idOrName, by: cliOperator).id }
}

/// Formats rows as aligned columns.
func formatTable(_ header: [String], _ rows: [[String]]) -> String {
  let all = [header] + rows
  let widths = header.indices.map { i in all.map { $0[i].count }.max() ?? 0 }
  return all.map { row in
    row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }
      .joined(separator: "  ")
  }.joined(separator: "\n") + "\n"
}

func printJSON<T: Encodable>(_ value: T) {
  let e = JSONEncoder()
  e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  e.dateEncodingStrategy = .iso8601
  let data = (try? e.encode(value)) ?? Data("null".utf8)
  FileHandle.standardOutput.write(data + Data("\n".utf8))
}

func printLine(_ s: String) { FileHandle.standardOutput.write(Data((s.hasSuffix("\n") ? s : s + "\n").utf8)) }

func printNote(_ s: String) { FileHandle.standardError.write(Data("hearth: \(s)\n".utf8)) }

func dateText(_ d: Date?) -> String {
  guard let d else { return "-" }
  let f = ISO8601DateFormatter()
  return f.string(from: d)
}

/// Limits given on the command line; 0 clears a limit on update.
struct LimitOptions: ParsableArguments {
  @Option(help: "Requests per minute (0: no limit).") var rpm: Int?
  @Option(help: "Tokens per minute (0: no limit).") var tpm: Int?
  @Option(help: "Concurrent requests (0: no limit).") var concurrency: Int?

  func validate() throws {
    for (n, v) in [("--rpm", rpm), ("--tpm", tpm), ("--concurrency", concurrency)] {
      if let v, v < 0 { throw ValidationError("\(n) must be 0 or more") }
    }
  }

  func apply(to base: RateLimits) -> RateLimits { applyLimits(rpm: rpm, tpm: tpm, concurrency: concurrency, to: base) }
}

/// `base` with the given limits applied; 0 clears one.
func applyLimits(rpm: Int?, tpm: Int?, concurrency: Int?, to base: RateLimits) -> RateLimits {
  var l = base
  if let rpm { l.requestsPerMinute = rpm == 0 ? nil : rpm }
  if let tpm { l.tokensPerMinute = tpm == 0 ? nil : tpm }
  if let concurrency { l.concurrentRequests = concurrency == 0 ? nil : concurrency }
  return l
}

func limitsText(_ l: RateLimits) -> String {
  var parts = [String]()
  if let r = l.requestsPerMinute { parts.append("\(r) req/min") }
  if let t = l.tokensPerMinute { parts.append("\(t) tok/min") }
  if let c = l.concurrentRequests { parts.append("\(c) concurrent") }
  return parts.isEmpty ? "-" : parts.joined(separator: ", ")
}

/// Parses `N/day`, `N/month`, or `none` (nil inside: clear the budget).
func parseBudget(_ s: String) -> TokenBudget?? {
  if s == "none" { return .some(nil) }
  guard let b = TokenBudget(parsing: s) else { fail("--budget: expected N/day, N/month or none, got '\(s)'", code: 64) }
  return .some(b)
}

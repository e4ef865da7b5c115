import ArgumentParser
import ControlPlane
import Foundation

/// `hearth ab report NAME`: per variant and version, requests, latency, tokens, errors and feedback.
struct ABCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "ab", abstract: "Compare a deployment's versions.", subcommands: [Report.self])

  struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Summarise latency, tokens, errors and user feedback per variant.")
    @OptionGroup var data: DataDirOptions
    @OptionGroup var tenant: DeploymentTenantOption
    @Argument(help: "The deployment's name.") var name: String
    @Option(help: "Only requests in the last DURATION (90m, 12h, 30d) or since an ISO 8601 time.") var since: String?
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
      let cp = await data.open()
      let tenantID = await tenantID(tenant.tenant, cp)
      let from = since.map(pastTime)
      let rows = await orFailDeployment { try await cp.deployments.report(name, tenantID: tenantID, since: from, by: cliOperator) }
      if json { return printJSON(rows) }
      let table = rows.map { r in
        [
          r.variant.rawValue, r.version.description, String(r.requests), String(r.errors), String(format: "%.0f", r.p50Millis),
          String(format: "%.0f", r.p99Millis), String(r.promptTokens), String(r.completionTokens), String(r.feedbackCount),
          r.meanScore.map { String(format: "%.2f", $0) } ?? "-", r.agreement.map { String(format: "%.0f%%", $0 * 100) } ?? "-",
        ]
      }
      printLine(formatTable(["VARIANT", "VERSION", "REQUESTS", "ERRORS", "P50_MS", "P99_MS", "PROMPT_TOK", "COMPL_TOK", "FEEDBACK", "MEAN_SCORE", "AGREE"], table))
    }

    /// A duration back from now (`90m`, `12h`, `30d`) or an ISO 8601 time.
    func pastTime(_ s: String) -> Date {
      if let unit = s.last, let n = Double(s.dropLast()), n > 0, let scale = ["m": 60.0, "h": 3600, "d": 86400][unit] {
        return Date().addingTimeInterval(-n * scale)
      }
      return parseTime(s, option: "--since")
    }
  }
}

import ArgumentParser
import ControlPlane
import Foundation

/// `hearth deployments list|show`.
struct DeploymentsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "deployments", abstract: "List and show deployments.", subcommands: [List.self, Show.self])

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List deployments (every tenant's unless --tenant is given).")
    @OptionGroup var data: DataDirOptions
    @Option(help: "Only this tenant's deployments (name or id).") var tenant: String?
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
      let cp = await data.open()
      let tenantID: String? = tenant == nil ? nil : await tenantID(tenant!, cp)
      let all = await orFailDeployment { try await cp.deployments.list(tenantID: tenantID, by: cliOperator) }
      if json { return printJSON(all) }
      let rows = all.map { d in [d.tenantID, d.name, d.state.summary, String(d.revision), dateText(d.updatedAt), d.updatedBy] }
      printLine(formatTable(["TENANT", "NAME", "SERVING", "REV", "UPDATED", "BY"], rows))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show one deployment: what it serves, what a rollback restores, its guards.")
    @OptionGroup var data: DataDirOptions
    @OptionGroup var tenant: DeploymentTenantOption
    @Argument(help: "The deployment's name.") var name: String
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
      let cp = await data.open()
      let tenantID = await tenantID(tenant.tenant, cp)
      let d = await orFailDeployment { try await cp.deployments.get(name, tenantID: tenantID, by: cliOperator) }
      if json { return printJSON(d) }
      var lines = [
        "name:      \(d.name)", "tenant:    \(d.tenantID)", "serving:   \(d.state.summary)",
        "previous:  \(d.previous?.summary ?? "-")  (what rollback restores)",
      ]
      if let g = d.guards {
        var parts = [String]()
        if let e = g.maxErrorRate { parts.append("error rate <= \(e * 100) %") }
        if let p = g.maxP99Millis { parts.append("p99 <= \(Int(p)) ms") }
        if let s = g.maxShadowDisagreement { parts.append("shadow disagreement <= \(s * 100) %") }
        lines.append("guards:    \(parts.joined(separator: ", ")) over \(g.windowSeconds) s, after \(g.minRequests) requests")
      } else {
        lines.append("guards:    -")
      }
      lines += ["revision:  \(d.revision)", "updated:   \(dateText(d.updatedAt)) by \(d.updatedBy)", "created:   \(dateText(d.createdAt))"]
      printLine(lines.joined(separator: "\n"))
    }
  }
}

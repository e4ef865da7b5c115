import ArgumentParser
import ControlPlane
import Foundation

/// `hearth promote NAME`: the candidate becomes the only version served.
struct PromoteCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "promote", abstract: "Make a deployment's candidate its only version.")
  @OptionGroup var data: DataDirOptions
  @OptionGroup var tenant: DeploymentTenantOption
  @Argument(help: "The deployment's name.") var name: String

  func run() async throws {
    let cp = await data.open()
    let tenantID = await tenantID(tenant.tenant, cp)
    let d = await orFailDeployment { try await cp.deployments.promote(name, tenantID: tenantID, by: cliOperator) }
    printLine("promoted \(deploymentLine(d))")
  }
}

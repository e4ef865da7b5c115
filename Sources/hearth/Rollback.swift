import ArgumentParser
import ControlPlane
import Foundation

/// `hearth rollback NAME`: back to the state before the last change. Running servers switch on their
/// next poll; the previous version is still loaded there, so the switch takes no load.
struct RollbackCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "rollback", abstract: "Put a deployment back to its state before the last change.")
  @OptionGroup var data: DataDirOptions
  @OptionGroup var tenant: DeploymentTenantOption
  @Argument(help: "The deployment's name.") var name: String

  func run() async throws {
    let cp = await data.open()
    let tenantID = await tenantID(tenant.tenant, cp)
    let d = await orFailDeployment { try await cp.deployments.rollback(name, tenantID: tenantID, by: cliOperator) }
    printLine("rolled back \(deploymentLine(d))")
  }
}

import ArgumentParser
import ControlPlane
import Foundation
import Server

/// `hearth deploy NAME --version V [--model M] [--strategy single|canary|ab|shadow --weight 10]`.
struct DeployCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "deploy",
    abstract: "Serve a registry version under a public model name, alone or as a canary, A/B or shadow candidate.",
    discussion: "The version is re-hashed against its registry digest first; a corrupt or unknown version is refused and nothing changes.")

  @OptionGroup var data: DataDirOptions
  @OptionGroup var tenant: DeploymentTenantOption
  @Argument(help: "The deployment's name: the `model` clients send.") var name: String
  @Option(help: "The registry version to deploy.") var version: String
  @Option(help: "The registry model name (default: the deployment's current model, else NAME).") var model: String?
  @Option(help: "single, canary, ab or shadow.") var strategy: String = "single"
  @Option(help: "Percent of traffic (canary), of callers (ab) or of requests mirrored (shadow, default 100).") var weight: Int?
  @Option(help: "A/B stickiness: user (the request's user field, else the key's user, else the key) or key.") var sticky: String = "user"
  @Option(name: .customLong("max-error-rate"), help: "Guard: roll back when the candidate's error rate exceeds this fraction.") var maxErrorRate: Double?
  @Option(name: .customLong("max-p99-ms"), help: "Guard: roll back when the candidate's p99 latency exceeds this.") var maxP99: Double?
  @Option(name: .customLong("max-shadow-disagreement"), help: "Guard: roll back when this fraction of shadow outputs differ.") var maxDisagreement: Double?
  @Option(name: .customLong("guard-window"), help: "Guard window in seconds.") var guardWindow = 60
  @Option(name: .customLong("guard-min-requests"), help: "Requests the candidate must serve before guards judge it.") var guardMinRequests = 20

  func validate() throws {
    guard DeploymentStrategy(rawValue: strategy) != nil else { throw ValidationError("--strategy must be single, canary, ab or shadow") }
    guard StickyBy(rawValue: sticky) != nil else { throw ValidationError("--sticky must be user or key") }
    if let weight, !(0...100).contains(weight) { throw ValidationError("--weight must be a percentage from 0 to 100") }
  }

  func run() async throws {
    let cp = await data.open(mustExist: false)
    let tenantID = await tenantID(tenant.tenant, cp)
    let registry = openRegistry(data)
    let guards = GuardRules(
      maxErrorRate: maxErrorRate, maxP99Millis: maxP99, maxShadowDisagreement: maxDisagreement, windowSeconds: guardWindow, minRequests: guardMinRequests)
    let d = await orFailDeployment {
      let current = try await cp.store.deployment(named: name, tenantID: tenantID)
      let spec = DeploySpec(
        tenantID: tenantID, name: name, version: VersionRef(model: model ?? current?.state.primary.model ?? name, version: version),
        strategy: DeploymentStrategy(rawValue: strategy)!, weight: weight, sticky: StickyBy(rawValue: sticky)!, guards: guards.isEmpty ? nil : guards)
      // An encrypted version is checked by decrypting it, with the master key given to this command.
      let sealer = cp.cipher.map(EnvelopeBlobSealer.init)
      return try await cp.deployments.deploy(spec, by: cliOperator) { v in try await registry.verify(name: v.model, version: v.version, sealer: sealer) }
    }
    printLine("deployed \(deploymentLine(d))")
  }
}

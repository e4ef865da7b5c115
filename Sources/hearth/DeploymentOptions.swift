import ArgumentParser
import ControlPlane
import Foundation
import Registry

/// The tenant a deployment command acts in (`default`, the system tenant, unless given).
struct DeploymentTenantOption: ParsableArguments {
  @Option(help: "The tenant that owns the deployment (name or id).") var tenant = Tenant.systemID
}

/// The registry of the data dir, with the trusted signing keys `hearth model` uses.
func openRegistry(_ data: DataDirOptions) -> ModelRegistry {
  let policy: SignaturePolicy
  do { policy = try SignaturePolicy(trustedKeysDirectory: ModelRegistry.defaultTrustedKeysDirectory(dataDirectory: data.directory), required: false) } catch {
    failRegistry(error)
  }
  return ModelRegistry(dataDirectory: data.directory, policy: policy)
}

/// Runs a deployment change, exiting with one line: 64 for bad input, 2 for a corrupt model, 1 otherwise.
func orFailDeployment<T>(_ body: () async throws -> T) async -> T {
  do { return try await body() } catch let e as RegistryError {
    failRegistry(e)
  } catch let e as ControlPlaneError {
    if case .invalid = e { fail(e.description, code: 64) }
    fail(e.description, code: 1)
  } catch {
    fail("\(error)", code: 1)
  }
}

/// One line describing a deployment's change: `chat: canary smol:1 + smol:2 at 10% (revision 3)`.
func deploymentLine(_ d: Deployment) -> String { "\(d.name): \(d.state.summary) (revision \(d.revision))" }

import ControlPlane
import Foundation
import ServiceLifecycle

/// Polls the store's deployment change counter every 200 ms, so a change made by the CLI in another
/// process is served within a poll plus the time to verify and load a new version; writes the request
/// log; and once a second checks the guard rules, rolling back a candidate that breaks one.
struct DeploymentWatcher: Service {
  let state: AppState
  static let pollNanoseconds: UInt64 = 200_000_000
  static let guardEvery = 5

  func run() async throws {
    try? await cancelWhenGracefulShutdown {
      var tick = 0
      while !Task.isCancelled {
        await state.deployments.refresh()
        await state.deploymentLog.flush()
        tick += 1
        if tick % Self.guardEvery == 0 { await enforceGuards() }
        try await Task.sleep(nanoseconds: Self.pollNanoseconds)
      }
    }
    await state.deploymentLog.flush()
  }

  func enforceGuards() async {
    do {
      let rolledBack = try await state.controlPlane.deployments.enforceGuards()
      if !rolledBack.isEmpty { await state.deployments.refresh(force: true) }
    } catch {
      state.logger.error("cannot check deployment guards", metadata: ["error": .string("\(error)")])
    }
  }
}

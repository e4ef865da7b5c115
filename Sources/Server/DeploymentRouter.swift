import ControlPlane
import Engine
import Foundation
import Logging
import Registry
import ServingAPI

/// Where one request to a deployment goes, as the router chose it.
struct RoutedRequest: Sendable {
  let deployment: Deployment
  let choice: RouteChoice
  /// The internal model ids of the answering version and of the shadow version, if any.
  var modelID: String { DeploymentRouter.modelID(choice.serve) }
  var shadowModelID: String? { choice.shadow.map(DeploymentRouter.modelID) }
}

/// A small lock for values read on every request and swapped rarely.
final class Guarded<Value: Sendable>: @unchecked Sendable {
  private let lock = NSLock()
  private var value: Value
  init(_ value: Value) { self.value = value }
  func get() -> Value { lock.withLock { value } }
  func set(_ v: Value) { lock.withLock { value = v } }
  func update<R>(_ body: (inout Value) -> R) -> R { lock.withLock { body(&value) } }
}

/// The deployments this server serves. The table requests read is swapped only after every version
/// it names has been verified against its registry digest and loaded, so a switch (deploy, promote,
/// rollback) never makes a request wait for a load, and a version that fails to verify or load is
/// never switched to: the deployment keeps serving what it served. Requests already running hold
/// their engine, so they finish on the version they started on.
actor DeploymentRouter {
  let controlPlane: ControlPlaneServices
  let manager: ModelManager
  let registry: ModelRegistry
  let logger: Logger
  /// tenant id → deployment name → the deployment as served.
  nonisolated let table = Guarded<[String: [String: Deployment]]>([:])
  /// Why a deployment's latest state is not served (tenant id + name → message).
  nonisolated let refusals = Guarded<[String: String]>([:])
  private var generation: Int64 = -1
  /// Versions verified and loaded in this process.
  private var ready: Set<VersionRef> = []

  init(controlPlane: ControlPlaneServices, manager: ModelManager, registry: ModelRegistry, logger: Logger) {
    self.controlPlane = controlPlane
    self.manager = manager
    self.registry = registry
    self.logger = logger
  }

  /// The internal model id of a registry version (never resolvable from a request's `model`).
  static func modelID(_ v: VersionRef) -> String { "registry:\(v.model):\(v.version)" }

  /// Routes a request for `model` in the caller's tenant, or nil when no deployment has that name.
  /// `stickyKey` gives the caller's identity for the deployment's sticky mode (A/B only).
  nonisolated func route(tenantID: String, model: String, requestKey: String, stickyKey: (StickyBy) -> String?) -> RoutedRequest? {
    guard let d = table.get()[tenantID]?[model] else { return nil }
    let sticky = d.state.strategy == .ab ? stickyKey(d.state.sticky) : nil
    return RoutedRequest(deployment: d, choice: TrafficSplit.choose(d.state, deployment: d.name, requestKey: requestKey, stickyKey: sticky))
  }

  /// The deployment as this server serves it, and why its stored state is not served, if it is not.
  nonisolated func serving(tenantID: String, name: String) -> (Deployment?, String?) {
    (table.get()[tenantID]?[name], refusals.get()[tenantID + "/" + name])
  }

  /// The refresh in progress; each new one waits for it, so an older snapshot can never be installed
  /// over a newer one (the actor alone would interleave them at every suspension).
  private var lastRefresh: Task<Void, Never>?

  /// Reloads the deployments when their change counter moved (or always, with `force`): the poll of
  /// the watcher and the admin API's way to apply its own change at once.
  func refresh(force: Bool = false) async {
    let previous = lastRefresh
    let task = Task {
      await previous?.value
      await self.reload(force: force)
    }
    lastRefresh = task
    await task.value
  }

  private func reload(force: Bool) async {
    do {
      let gen = try await controlPlane.store.deploymentGeneration()
      guard force || gen != generation else { return }
      let stored = try await controlPlane.store.deployments(scope: .all)
      let current = table.get()
      var next: [String: [String: Deployment]] = [:]
      var refused: [String: String] = [:]
      for d in stored {
        let key = d.tenantID + "/" + d.name
        do {
          for v in d.state.versions where !ready.contains(v) { try await prepare(v) }
          next[d.tenantID, default: [:]][d.name] = d
        } catch {
          refused[key] = "\(error)"
          logger.error(
            "deployment change refused; the deployment keeps serving its previous state",
            metadata: ["deployment": .string(d.name), "tenant": .string(d.tenantID), "error": .string("\(error)")])
          if let old = current[d.tenantID]?[d.name] { next[d.tenantID, default: [:]][d.name] = old }
        }
      }
      table.set(next)
      refusals.set(refused)
      generation = gen
      // Keep what is served, and what a rollback would switch to, loaded.
      var keep = Set<VersionRef>()
      for d in next.values.flatMap(\.values) { keep.formUnion(d.state.versions + (d.previous?.versions ?? [])) }
      keep.formIntersection(ready)
      await manager.pinVersions(Set(keep.map(Self.modelID)))
    } catch {
      logger.error("cannot read deployments", metadata: ["error": .string("\(error)")])
    }
  }

  /// The registry's `open` (signature check and a full re-hash), run on a dispatch thread: hashing a
  /// model takes a while and must not hold one of the few async threads that serve requests. An
  /// encrypted version is decrypted and hashed instead (which needs the master key), and its bytes
  /// are dropped: this only checks it.
  nonisolated func open(_ v: VersionRef) async throws -> ModelManifest {
    let registry = self.registry
    let m = try registry.manifest(name: v.model, version: v.version)
    if m.isEncrypted { return try await registry.openSealed(name: v.model, version: v.version, sealer: try sealer(m)).manifest }
    return try await withCheckedThrowingContinuation { c in
      DispatchQueue.global().async {
        do { c.resume(returning: try registry.open(name: v.model, version: v.version).manifest) } catch { c.resume(throwing: error) }
      }
    }
  }

  nonisolated func sealer(_ m: ModelManifest) throws -> EnvelopeBlobSealer {
    guard let cipher = controlPlane.cipher else { throw RegistryError.sealed(model: m.reference) }
    return EnvelopeBlobSealer(cipher: cipher)
  }

  /// Verifies a version against its digest (re-hashing its stored bytes off the async threads), then
  /// loads it. Throws the registry's error, which names the model and the mismatch. An encrypted
  /// version is verified as it is decrypted into memory, by the load itself (and again by every
  /// reload after an unload).
  func prepare(_ v: VersionRef) async throws {
    let id = Self.modelID(v)
    let m = try registry.manifest(name: v.model, version: v.version)
    if m.isEncrypted {
      let (registry, sealer) = (self.registry, try sealer(m))
      await manager.registerVersion(id: id, path: registry.storedPath(m)) {
        try await EncryptedModel.load(registry, name: v.model, version: v.version, sealer: sealer)
      }
    } else {
      _ = try await open(v)
      await manager.registerVersion(id: id, path: registry.storedPath(m))
    }
    _ = try await manager.engine(version: id)
    ready.insert(v)
    logger.info(
      "deployment version ready",
      metadata: ["version": .string(v.description), "digest": .string(m.digest.value), "encrypted": .string(String(m.isEncrypted))])
  }
}

/// Requests served through deployments, written to the store in batches (every poll of the watcher)
/// so the request path never waits for a database write.
final class DeploymentRequestLog: Sendable {
  let pending = Guarded<[DeploymentRequest]>([])
  let controlPlane: ControlPlaneServices
  let logger: Logger

  init(controlPlane: ControlPlaneServices, logger: Logger) {
    self.controlPlane = controlPlane
    self.logger = logger
  }

  func append(_ r: DeploymentRequest) { pending.update { $0.append(r) } }

  func flush() async {
    let batch = pending.update { p -> [DeploymentRequest] in
      defer { p = [] }
      return p
    }
    guard !batch.isEmpty else { return }
    do { try await controlPlane.deployments.record(batch) } catch {
      logger.warning("could not record deployment requests", metadata: ["count": .string("\(batch.count)"), "error": .string("\(error)")])
    }
  }
}

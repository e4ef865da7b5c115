import ControlPlane
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import ServingAPI

/// What a chat or completion request runs on: a plain model, or the version a deployment routed it to.
struct InferenceTarget: Sendable {
  /// The name the caller's allowlist admits (the deployment's name for deployments).
  let allowed: String
  /// The `model` responses name: the model id, or the deployment's name.
  let modelID: String
  let engine: EngineService
  let routed: RoutedRequest?

  /// Adds the version and deployment headers to a response.
  func tag(_ response: Response) -> Response {
    guard let routed else { return response }
    var r = response
    r.headers[.hearthModelVersion] = routed.choice.serve.description
    r.headers[.hearthDeployment] = routed.deployment.name
    return r
  }

  /// What the meter needs to log a deployment request once it ends.
  func served(responseID: String, state: AppState) -> ServedVersion? {
    routed.map { ServedVersion(routed: $0, responseID: responseID, log: state.deploymentLog, metrics: state.metrics) }
  }
}

/// A request answered through a deployment: logged (for reports, feedback and guards) and counted
/// under its version when it ends.
struct ServedVersion: Sendable {
  let routed: RoutedRequest
  let responseID: String
  let log: DeploymentRequestLog
  let metrics: ServerMetrics

  func record(status: Int, start: Date, promptTokens: Int, completionTokens: Int) {
    let r = DeploymentRequest(
      responseID: responseID, tenantID: routed.deployment.tenantID, deployment: routed.deployment.name, version: routed.choice.serve,
      variant: routed.choice.variant, status: status, latencyMicros: Int64(Date().timeIntervalSince(start) * 1e6), promptTokens: promptTokens,
      completionTokens: completionTokens, time: start)
    log.append(r)
    metrics.deploymentRequest(r)
  }
}

extension AppState {
  /// The engine for a request's `model`: a deployment of the caller's tenant by that name (routed by
  /// its strategy, `requestKey` drawing canary and shadow shares), else a served model or alias.
  func inferenceTarget(_ model: String, caller: Principal, requestKey: String, user: String?) async throws -> InferenceTarget {
    let sticky: (StickyBy) -> String? = { by in
      switch by {
      case .user: (user.flatMap { $0.isEmpty ? nil : "user:" + $0 }) ?? caller.userID.map { "uid:" + $0 } ?? caller.keyID.map { "key:" + $0 } ?? caller.actor
      case .key: caller.keyID.map { "key:" + $0 } ?? caller.actor
      }
    }
    if let routed = deployments.route(tenantID: caller.tenantID, model: model, requestKey: requestKey, stickyKey: sticky) {
      // A deployment outside the key's allowlist answers like one that does not exist.
      guard caller.mayUse(model: model) else { throw APIError.modelNotFound(model) }
      let engine = try await manager.engine(version: routed.modelID)
      return InferenceTarget(allowed: model, modelID: model, engine: engine, routed: routed)
    }
    let allowed = try await allowedModelName(model, for: caller)
    let (id, engine) = try await manager.engine(for: model)
    return InferenceTarget(allowed: allowed, modelID: id, engine: engine, routed: nil)
  }

  /// Runs a copy of a request on the shadow version, in the background, and logs its latency and
  /// whether its text equals the primary's. `request` builds the copy with the shadow model's own
  /// tokenizer. Nothing of it reaches the client, and its failures only count against the candidate.
  func mirror(_ target: InferenceTarget, responseID: String, primaryText: String, request: @escaping @Sendable (EngineService) throws -> GenerationRequest) {
    guard let routed = target.routed, let shadow = routed.choice.shadow, let shadowID = routed.shadowModelID else { return }
    let (manager, log, metrics, logger) = (self.manager, deploymentLog, self.metrics, self.logger)
    Task.detached {
      let start = Date()
      var result = ChoiceResult()
      var status = 200
      var promptTokens = 0
      do {
        let engine = try await manager.engine(version: shadowID)
        let g = try request(engine)
        promptTokens = g.prompt.count
        let (_, stream) = try engine.submit(g)
        for await e in stream { result.apply(e) }
        if result.failure != nil { status = 500 }
      } catch EngineServiceError.overloaded {
        status = 429  // the shadow had no room: not the candidate's fault, and not counted as an error
      } catch {
        status = (error as? APIError)?.status ?? 500
        logger.warning("shadow request failed", metadata: ["version": .string(shadow.description), "error": .string("\(error)")])
      }
      let r = DeploymentRequest(
        responseID: responseID, tenantID: routed.deployment.tenantID, deployment: routed.deployment.name, version: shadow, variant: .shadow,
        status: status, latencyMicros: Int64(Date().timeIntervalSince(start) * 1e6), promptTokens: promptTokens,
        completionTokens: result.usage.completionTokens, agreed: status == 200 ? result.text == primaryText : nil, time: start)
      log.append(r)
      metrics.deploymentRequest(r)
    }
  }
}

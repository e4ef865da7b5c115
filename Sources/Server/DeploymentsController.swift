import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import Registry
import ServingAPI

/// `/v1/admin/deployments` (list, show, report, deploy, promote, rollback, guards) and
/// `POST /v1/feedback`. Handlers act as the caller, so RBAC and tenant isolation are the service's.
/// A change is applied by this server before the answer goes out (the other servers of the data dir
/// pick it up on their next poll).
struct DeploymentsController: Sendable {
  let state: AppState
  var service: DeploymentService { state.controlPlane.deployments }
  var admin: AdminController { AdminController(state: state) }

  func register(_ protected: (Permission) -> RouterGroup<HearthRequestContext>) {
    protected(.deploymentsRead).get("/v1/admin/deployments", use: list)
      .get("/v1/admin/deployments/{name}", use: show)
      .get("/v1/admin/deployments/{name}/report", use: report)
    protected(.deploymentsWrite).post("/v1/admin/deployments", use: deploy)
      .post("/v1/admin/deployments/{name}/promote", use: promote)
      .post("/v1/admin/deployments/{name}/rollback", use: rollback)
      .post("/v1/admin/deployments/{name}/guards", use: guards)
  }

  /// A deployment as stored, and as this server serves it.
  struct View: Encodable {
    var deployment: Deployment
    /// The state this server routes by (differs from `deployment.state` while a change is refused).
    var serving: DeploymentState?
    var servingError: String?
  }

  func view(_ d: Deployment) -> View {
    let (live, refusal) = state.deployments.serving(tenantID: d.tenantID, name: d.name)
    return View(deployment: d, serving: live?.state, servingError: refusal)
  }

  func tenant(_ request: Request, _ f: FieldReader? = nil, _ p: Principal) async throws -> String {
    let asked = try f?.string("tenant") ?? request.uri.queryParameters["tenant"].map(String.init)
    return try await admin.optionalTenant(asked, p) ?? p.tenantID
  }

  @Sendable func list(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let asked = request.uri.queryParameters["tenant"].map(String.init)
    let tenantID = try await admin.optionalTenant(asked, p)
    return try admin.encoded(AdminController.ListView(data: try await service.list(tenantID: tenantID, by: p).map(view)))
  }

  @Sendable func show(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let d = try await service.get(try admin.param(context, "name"), tenantID: try await tenant(request, nil, p), by: p)
    return try admin.encoded(view(d))
  }

  /// `?since=` (ISO 8601): per-variant requests, latency, tokens, errors and feedback.
  @Sendable func report(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let since = try request.uri.queryParameters["since"].map { try admin.time(String($0), "since") }
    await state.deploymentLog.flush()
    let rows = try await service.report(try admin.param(context, "name"), tenantID: try await tenant(request, nil, p), since: since, by: p)
    return try admin.encoded(AdminController.ListView(data: rows))
  }

  /// `{"name", "model", "version", "strategy", "weight", "sticky", "guards", "tenant"}`; `model` (the
  /// registry name) defaults to the current primary's, else to `name`.
  @Sendable func deploy(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let f = try FieldReader(try await state.readJSON(request))
    let tenantID = try await tenant(request, f, p)
    let name = try f.requireString("name")
    let strategy = try enumField(f, "strategy", default: DeploymentStrategy.single)
    let sticky = try enumField(f, "sticky", default: StickyBy.user)
    var model = try f.string("model")
    if model == nil { model = try await state.controlPlane.store.deployment(named: name, tenantID: tenantID)?.state.primary.model ?? name }
    let spec = DeploySpec(
      tenantID: tenantID, name: name, version: VersionRef(model: model!, version: try f.requireString("version")), strategy: strategy,
      weight: try f.int("weight", in: 0...100), sticky: sticky, guards: try f.object("guards").map(guardRules))
    let router = state.deployments
    let d = try await service.deploy(spec, by: p) { v in
      do { _ = try await router.open(v) } catch let e as RegistryError {
        // The registry's own sentence: which version, and why it is refused (unknown, corrupt, unsigned).
        if case .notFound = e { throw APIError.notFound(e.description) }
        throw APIError(status: 422, message: e.description, type: "invalid_request_error", code: "model_version_refused")
      }
    }
    await router.refresh(force: true)
    return try admin.encoded(view(d))
  }

  @Sendable func promote(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let d = try await service.promote(try admin.param(context, "name"), tenantID: try await tenant(request, nil, p), by: p)
    await state.deployments.refresh(force: true)
    return try admin.encoded(view(d))
  }

  @Sendable func rollback(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let d = try await service.rollback(try admin.param(context, "name"), tenantID: try await tenant(request, nil, p), by: p)
    await state.deployments.refresh(force: true)
    return try admin.encoded(view(d))
  }

  /// `{"max_error_rate", "max_p99_ms", "max_shadow_disagreement", "window_s", "min_requests"}`; `{}` clears them.
  @Sendable func guards(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let f = try FieldReader(try await state.readJSON(request))
    let d = try await service.setGuards(try admin.param(context, "name"), tenantID: try await tenant(request, f, p), guards: try guardRules(f), by: p)
    return try admin.encoded(view(d))
  }

  /// `POST /v1/feedback {"response_id", "score", "comment"}` by the caller of an inference route.
  @Sendable func feedback(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let f = try FieldReader(try await state.readJSON(request))
    let responseID = try f.requireString("response_id")
    guard let score = try f.number("score", in: -10...10) else { throw APIError.missing("score") }
    // The response's log row may still be waiting for the next batch write.
    await state.deploymentLog.flush()
    let fb = try await service.submitFeedback(responseID: responseID, score: score, comment: try f.string("comment") ?? "", by: p)
    return try admin.encoded(fb, status: .created)
  }

  // MARK: fields

  func guardRules(_ f: FieldReader) throws -> GuardRules {
    GuardRules(
      maxErrorRate: try f.number("max_error_rate", in: 0...1), maxP99Millis: try f.number("max_p99_ms", in: 0.001...86_400_000),
      maxShadowDisagreement: try f.number("max_shadow_disagreement", in: 0...1), windowSeconds: try f.int("window_s", in: 1...86400) ?? 60,
      minRequests: try f.int("min_requests", in: 1...1_000_000) ?? 20)
  }

  func enumField<T: RawRepresentable & CaseIterable>(_ f: FieldReader, _ key: String, default value: T) throws -> T where T.RawValue == String {
    guard let s = try f.string(key) else { return value }
    guard let v = T(rawValue: s) else {
      throw APIError.invalid(key, "'\(key)' must be one of \(T.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return v
  }
}

import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import LDAP
import ServingAPI

/// `POST /v1/auth/login` with `{"username", "password"}`: a simple bind against the directory (over
/// LDAPS or StartTLS), group membership mapped to a role and a tenant, and a short-lived session
/// token (`hs_...`) for the console and the admin API. Failed logins are throttled per username and
/// per client address, and every attempt is audited (`login` / `login.failed`, never the password).
struct LoginController: Sendable {
  let state: AppState
  let authenticator: LDAPAuthenticator
  var cp: ControlPlaneServices { state.controlPlane }

  func register(on router: Router<HearthRequestContext>, _ protected: (Permission) -> RouterGroup<HearthRequestContext>) {
    router.post("/v1/auth/login", use: login)
    protected(.statusRead).post("/v1/auth/logout", use: logout)
  }

  @Sendable func login(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let f = try FieldReader(try await state.readJSON(request))
    // No credentials is an authentication failure, as on every other route.
    guard let username = try f.string("username"), !username.isEmpty, let password = try f.string("password"), !password.isEmpty else {
      throw APIError.unauthorized("send {\"username\": ..., \"password\": ...} to log in")
    }
    let client = context.clientAddress
    let started = Date()
    try state.loginThrottle.check(username: username, client: client)
    let identity: LDAPIdentity
    do throws(LDAPError) {
      identity = try await authenticator.authenticate(username: username, password: password)
    } catch {
      if error.isCredentialFailure { state.loginThrottle.failed(username: username, client: client) }
      let api = Self.apiError(error)
      await audit("login.failed", username: username, tenant: Tenant.systemID, status: api.status, client: client, detail: error.description, started: started)
      throw api
    }
    let principal: Principal
    do {
      principal = try await sessionPrincipal(identity)
    } catch {
      let reason = "\(error)"
      await audit("login.failed", username: username, tenant: Tenant.systemID, status: 403, client: client, detail: reason, started: started)
      throw APIError.forbidden("your directory groups map to no usable role or tenant: \(reason)")
    }
    state.loginThrottle.succeeded(username: username)
    // Fail closed like inference: a login the trail cannot record is not granted.
    try await cp.audit.append([
      AuditDraft(
        time: started, kind: .security, tenantID: principal.tenantID, actor: principal.actor, action: "login", route: "/v1/auth/login",
        status: 200, client: client, detail: "role \(principal.role.rawValue) via \(identity.mappedGroup)")
    ])
    let session = state.sessions.start(principal)
    struct View: Encodable { var token: String, tokenType = "Bearer", expiresAt: Date, expiresIn: Int, role: String, tenant: String, user: String }
    return try AdminController(state: state).encoded(
      View(
        token: session.token, expiresAt: session.expiresAt, expiresIn: Int(state.sessions.ttl), role: principal.role.rawValue,
        tenant: principal.tenantID, user: identity.username))
  }

  @Sendable func logout(_ request: Request, context: HearthRequestContext) async throws -> Response {
    if let token = AuthMiddleware.presentedKey(request.headers), token.hasPrefix(SessionService.prefix) { state.sessions.end(token) }
    return state.json(.obj([("status", .string("logged out"))]))
  }

  /// The caller a directory identity becomes: the mapping's role in the mapping's tenant (by id or name).
  func sessionPrincipal(_ identity: LDAPIdentity) async throws -> Principal {
    guard let role = Role(name: identity.role) else { throw ControlPlaneError.invalid("unknown role '\(identity.role)' in the group mapping") }
    let tenant = try await cp.tenants.get(identity.tenant, by: .localOperator())
    return Principal(
      tenantID: tenant.id, role: role, tenantLimits: tenant.policy.tenantLimits, tenantBudget: tenant.policy.budget,
      storePrompts: tenant.policy.storePrompts, actor: "ldap:\(identity.username)")
  }

  func audit(_ action: String, username: String, tenant: String, status: Int, client: String?, detail: String, started: Date) async {
    do {
      _ = try await cp.audit.append([
        AuditDraft(
          time: started, kind: .security, tenantID: tenant, actor: "ldap:\(username.prefix(256))", action: action, route: "/v1/auth/login",
          status: status, client: client, detail: detail)
      ])
    } catch {
      state.logger.error("login attempt not recorded", metadata: ["error": .string("\(error)")])
    }
  }

  /// Wrong password, unknown user and no mapped group all answer alike (401/403 without saying
  /// which), so the endpoint does not reveal who exists; an unreachable directory is a 503.
  static func apiError(_ e: LDAPError) -> APIError {
    switch e {
    case .invalidCredentials, .userNotFound, .ambiguousUser, .invalidUsername:
      return .unauthorized("invalid username or password")
    case .noMappedGroup:
      return .forbidden("you are in no directory group that grants access to Hearth")
    case .unreachable, .timeout, .tlsFailure, .protocolError, .operationFailed, .invalidConfiguration:
      return .unavailable("the directory is unavailable; try again later")
    }
  }
}

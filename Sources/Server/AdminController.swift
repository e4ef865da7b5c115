import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import ServingAPI

/// The admin API under `/v1/admin`: keys, tenants, users, usage and the audit trail, over the same
/// control-plane services as the CLI. Every handler acts as the caller (`context.caller()`), so
/// tenant isolation and "no role stronger than your own" are enforced by the services, not here:
/// a tenant admin sees and changes only its own tenant, and another tenant's objects read as 404.
struct AdminController: Sendable {
  let state: AppState
  var cp: ControlPlaneServices { state.controlPlane }

  /// Registers every admin route, each behind the permission it needs.
  func register(_ protected: (Permission) -> RouterGroup<HearthRequestContext>) {
    protected(.statusRead).get("/v1/admin/whoami", use: whoami)
    protected(.keysRead).get("/v1/admin/keys", use: listKeys).get("/v1/admin/keys/{id}", use: getKey)
    protected(.keysWrite).post("/v1/admin/keys", use: createKey)
      .post("/v1/admin/keys/{id}/revoke", use: revokeKey)
      .post("/v1/admin/keys/{id}/rotate", use: rotateKey)
    protected(.tenantsRead).get("/v1/admin/tenants", use: listTenants).get("/v1/admin/tenants/{id}", use: getTenant)
    protected(.tenantsWrite).post("/v1/admin/tenants", use: createTenant)
    protected(.usersRead).get("/v1/admin/users", use: listUsers)
    protected(.usersWrite).post("/v1/admin/users", use: createUser).delete("/v1/admin/users/{id}", use: removeUser)
    protected(.usageRead).get("/v1/admin/usage", use: usage)
    protected(.auditRead).get("/v1/admin/audit", use: audit).get("/v1/admin/audit/verify", use: verifyAudit)
  }

  // MARK: identity

  @Sendable func whoami(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    struct View: Encodable {
      var tenant: String, role: String, actor: String, keyID: String?, user: String?, models: [String], permissions: [String]
    }
    return try encoded(
      View(
        tenant: p.tenantID, role: p.role.rawValue, actor: p.actor, keyID: p.keyID, user: p.userID, models: p.models,
        permissions: p.role.permissions.sorted().map(\.rawValue)))
  }

  // MARK: keys

  @Sendable func listKeys(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let q = request.uri.queryParameters
    let tenant = try await optionalTenant(q["tenant"].map(String.init), p)
    let keys = try await cp.keys.list(tenantID: tenant, userID: q["user"].map(String.init), by: p)
    return try encoded(ListView(data: keys.map(APIKeyView.init)))
  }

  @Sendable func getKey(_ request: Request, context: HearthRequestContext) async throws -> Response {
    try encoded(APIKeyView(try await cp.keys.get(id: try param(context, "id"), by: try context.caller())))
  }

  /// `{"name", "role", "tenant", "user", "models", "description", "expires_at" | "expires_in",
  /// "limits": {...}, "budget": {"tokens", "period"}}`; answers 201 with the key's plaintext, once.
  @Sendable func createKey(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let f = try FieldReader(try await state.readJSON(request))
    let role = try roleField(f, default: .developer)
    let tenant = try await optionalTenant(try f.string("tenant"), p) ?? p.tenantID
    var spec = NewAPIKey(tenantID: tenant, name: try f.requireString("name"), role: role)
    spec.description = try f.string("description") ?? ""
    spec.models = try stringArray(f, "models")
    if let user = try f.string("user") { spec.userID = try await cp.users.get(user, tenantID: tenant, by: p).id }
    spec.expiresAt = try expiry(f)
    if let l = try f.object("limits") { spec.limits = try limits(l) }
    if let b = try f.object("budget") { spec.budget = try budget(b) }
    let created = try await cp.keys.create(spec, by: p)
    struct View: Encodable { var key: APIKeyView, secret: String }
    return try encoded(View(key: APIKeyView(created.record), secret: created.plaintext), status: .created)
  }

  @Sendable func revokeKey(_ request: Request, context: HearthRequestContext) async throws -> Response {
    try encoded(APIKeyView(try await cp.keys.revoke(id: try param(context, "id"), by: try context.caller())))
  }

  @Sendable func rotateKey(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let created = try await cp.keys.rotate(id: try param(context, "id"), by: try context.caller())
    struct View: Encodable { var key: APIKeyView, secret: String }
    return try encoded(View(key: APIKeyView(created.record), secret: created.plaintext))
  }

  // MARK: tenants and users

  @Sendable func listTenants(_ request: Request, context: HearthRequestContext) async throws -> Response {
    try encoded(ListView(data: try await cp.tenants.list(by: try context.caller())))
  }

  @Sendable func getTenant(_ request: Request, context: HearthRequestContext) async throws -> Response {
    try encoded(try await cp.tenants.get(try param(context, "id"), by: try context.caller()))
  }

  /// `{"name", "store_prompts", "limits", "default_key_limits", "budget"}`.
  @Sendable func createTenant(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let f = try FieldReader(try await state.readJSON(request))
    var policy = TenantPolicy(storePrompts: try f.bool("store_prompts") ?? false)
    if let l = try f.object("limits") { policy.tenantLimits = try limits(l) }
    if let l = try f.object("default_key_limits") { policy.defaultKeyLimits = try limits(l) }
    if let b = try f.object("budget") { policy.budget = try budget(b) }
    let t = try await cp.tenants.create(name: try f.requireString("name"), policy: policy, by: try context.caller())
    return try encoded(t, status: .created)
  }

  @Sendable func listUsers(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let tenant = try await optionalTenant(request.uri.queryParameters["tenant"].map(String.init), p)
    return try encoded(ListView(data: try await cp.users.list(tenantID: tenant, by: p)))
  }

  /// `{"name", "role", "tenant"}`.
  @Sendable func createUser(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let f = try FieldReader(try await state.readJSON(request))
    let tenant = try await optionalTenant(try f.string("tenant"), p) ?? p.tenantID
    let u = try await cp.users.create(tenantID: tenant, name: try f.requireString("name"), role: try roleField(f, default: .developer), by: p)
    return try encoded(u, status: .created)
  }

  @Sendable func removeUser(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let u = try await cp.users.get(try param(context, "id"), by: p)
    try await cp.users.remove(u.id, by: p)
    return try encoded(u)
  }

  // MARK: usage and audit

  /// `?group=day|month|total&tenant=&key=&model=&from=YYYY-MM-DD&to=YYYY-MM-DD`.
  @Sendable func usage(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let q = request.uri.queryParameters
    let grouping = try q["group"].map { (g: Substring) throws -> UsageGrouping in
      guard let v = UsageGrouping(rawValue: String(g)) else { throw APIError.invalid("group", "'group' must be day, month or total") }
      return v
    } ?? .day
    let scope: TenantScope = try await optionalTenant(q["tenant"].map(String.init), p).map { .tenant($0) } ?? p.scope
    for name: Substring in ["from", "to"] { if let d = q[name] { try day(String(d), String(name)) } }
    let rows = try await cp.usage.usage(
      UsageQuery(
        scope: scope, keyID: q["key"].map(String.init), model: q["model"].map(String.init), fromDay: q["from"].map(String.init),
        toDay: q["to"].map(String.init), grouping: grouping), by: p)
    return try encoded(ListView(data: rows))
  }

  /// `?since=&until=` (ISO 8601), `key=`, `model=`, `kind=inference|admin|...`, `after=SEQ`, `limit=`;
  /// `next_after` pages on.
  @Sendable func audit(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    let q = request.uri.queryParameters
    var query = AuditQuery(scope: p.scope)
    if let t = q["tenant"] { query.scope = .tenant(try await tenantID(String(t), p)) }
    query.since = try q["since"].map { try time(String($0), "since") }
    query.until = try q["until"].map { try time(String($0), "until") }
    query.keyID = q["key"].map(String.init)
    query.model = q["model"].map(String.init)
    if let k = q["kind"] {
      guard let kind = AuditKind(rawValue: String(k)) else {
        throw APIError.invalid("kind", "'kind' must be one of \(AuditKind.allCases.map(\.rawValue).joined(separator: ", "))")
      }
      query.kind = kind
    }
    query.afterSeq = try q["after"].map { try integer(String($0), "after", 0...Int(Int64.max)) }.map(Int64.init) ?? 0
    query.limit = try q["limit"].map { try integer(String($0), "limit", 1...1000) } ?? 100
    let page = try await cp.audit.query(query, by: p)
    struct View: Encodable { var data: [AuditExportLine], nextAfter: Int64? }
    return try encoded(View(data: page.records.map(AuditExportLine.init), nextAfter: page.nextAfterSeq))
  }

  /// Re-walks the whole chain and its signed checkpoints. Only a system auditor or admin: the chain
  /// spans every tenant.
  @Sendable func verifyAudit(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let p = try context.caller()
    guard p.scope == .all else { throw ControlPlaneError.forbidden(.auditRead) }
    let v = try await cp.audit.verify(trusting: nil)
    struct Problem: Encodable { var kind: String, seq: Int64, checkpoint: Int64?, message: String }
    struct View: Encodable { var ok: Bool, records: Int, checkpoints: Int, signedThrough: Int64, problems: [Problem] }
    return try encoded(
      View(
        ok: v.ok, records: v.records, checkpoints: v.checkpoints, signedThrough: v.signedThrough,
        problems: v.problems.map { Problem(kind: $0.kind.rawValue, seq: $0.seq, checkpoint: $0.checkpoint, message: $0.message) }))
  }

  // MARK: field parsing

  struct ListView<T: Encodable>: Encodable {
    var object = "list"
    var data: [T]
  }

  func param(_ context: HearthRequestContext, _ name: String) throws -> String {
    guard let v = context.parameters.get(name), !v.isEmpty else { throw APIError.missing(name) }
    return v
  }

  func tenantID(_ idOrName: String, _ p: Principal) async throws -> String {
    try await cp.tenants.get(idOrName, by: p).id
  }

  func optionalTenant(_ idOrName: String?, _ p: Principal) async throws -> String? {
    guard let idOrName else { return nil }
    return try await tenantID(idOrName, p)
  }

  func roleField(_ f: FieldReader, default value: Role) throws -> Role {
    guard let name = try f.string("role") else { return value }
    guard let role = Role(name: name) else {
      throw APIError.invalid("role", "'role' must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
    }
    return role
  }

  func stringArray(_ f: FieldReader, _ key: String) throws -> [String] {
    try (f.array(key) ?? []).map { v in
      guard let s = v.string else { throw APIError.invalid(key, "'\(key)' must be an array of strings") }
      return s
    }
  }

  func expiry(_ f: FieldReader) throws -> Date? {
    if let s = try f.string("expires_at") { return try time(s, "expires_at") }
    if let seconds = try f.int("expires_in", in: 1...(10 * 366 * 86400)) { return Date().addingTimeInterval(Double(seconds)) }
    return nil
  }

  func limits(_ f: FieldReader) throws -> RateLimits {
    RateLimits(
      requestsPerMinute: try f.int("requests_per_minute", in: 1...1_000_000_000),
      tokensPerMinute: try f.int("tokens_per_minute", in: 1...1_000_000_000),
      concurrentRequests: try f.int("concurrent_requests", in: 1...1_000_000))
  }

  func budget(_ f: FieldReader) throws -> TokenBudget {
    let tokens = try f.int("tokens", in: 1...Int(Int64.max)) ?? 0
    guard tokens > 0 else { throw APIError.missing(f.name("tokens")) }
    guard let period = BudgetPeriod(rawValue: try f.string("period") ?? "month") else {
      throw APIError.invalid(f.name("period"), "'\(f.name("period"))' must be day or month")
    }
    return TokenBudget(tokens: tokens, period: period)
  }

  func time(_ s: String, _ name: String) throws -> Date {
    let full = ISO8601DateFormatter()
    if let d = full.date(from: s) { return d }
    full.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = full.date(from: s) { return d }
    let dayOnly = ISO8601DateFormatter()
    dayOnly.formatOptions = [.withFullDate]
    if let d = dayOnly.date(from: s) { return d }
    throw APIError.invalid(name, "'\(name)' must be an ISO 8601 date or time, got '\(s.prefix(40))'")
  }

  func day(_ s: String, _ name: String) throws {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withFullDate]
    guard s.count == 10, f.date(from: s) != nil else { throw APIError.invalid(name, "'\(name)' must be a day, YYYY-MM-DD") }
  }

  func integer(_ s: String, _ name: String, _ range: ClosedRange<Int>) throws -> Int {
    guard let n = Int(s), range.contains(n) else {
      throw APIError.invalid(name, "'\(name)' must be an integer between \(range.lowerBound) and \(range.upperBound)")
    }
    return n
  }

  /// JSON with snake_case keys and ISO 8601 times, like the rest of the API.
  func encoded<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
    let e = JSONEncoder()
    e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    e.keyEncodingStrategy = .convertToSnakeCase
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: try e.encode(value))))
  }
}

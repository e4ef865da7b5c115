import ControlPlane
import Engine
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdCore
import HummingbirdTLS
import LDAP
import Logging
import NIOCore
import ServiceLifecycle
import Registry
import ServingAPI

extension HTTPField.Name {
  /// The model (and later the version) that served a response.
  static let hearthModel = Self("X-Hearth-Model")!
  /// `encoder` or `decoder-pooled`: how an embedding was made.
  static let hearthEmbedding = Self("X-Hearth-Embedding")!
  /// The registry version (`model:version`) that answered a request sent to a deployment.
  static let hearthModelVersion = Self("X-Hearth-Model-Version")!
  /// The deployment that routed the request.
  static let hearthDeployment = Self("X-Hearth-Deployment")!
}

public enum HearthVersion {
  public static let string = "0.1.0"
}

/// What every handler shares.
public final class AppState: Sendable {
  public let config: ServerConfig
  public let manager: ModelManager
  public let metrics: ServerMetrics
  public let logger: Logger
  /// Keys, quotas and the audit trail of the data dir.
  public let controlPlane: ControlPlaneServices
  /// Directory logins: the authenticator when `--ldap-config` is given, the sessions it hands out,
  /// and the throttle on failed attempts.
  let authenticator: LDAPAuthenticator?
  public let sessions: SessionService
  let loginThrottle: LoginThrottle
  /// Deployments: routing, the versions they serve, and the log of what they served.
  let deployments: DeploymentRouter
  let deploymentLog: DeploymentRequestLog
  let registry: ModelRegistry

  init(config: ServerConfig, controlPlane: ControlPlaneServices, logger: Logger) throws {
    self.config = config
    self.controlPlane = controlPlane
    self.logger = logger
    do {
      authenticator = try config.ldap.map { try LDAPAuthenticator(config: $0.authenticator) }
    } catch {
      throw ServerConfigError("--ldap-config: \(error)")
    }
    sessions = SessionService(ttl: config.ldap?.sessionTTL ?? 900, clock: controlPlane.clock)
    loginThrottle = LoginThrottle(
      maxFailures: config.ldap?.maxFailedLogins ?? 5, window: config.ldap?.failedLoginWindow ?? 300, clock: controlPlane.clock)
    metrics = ServerMetrics()
    manager = ModelManager(config: config, metrics: metrics, logger: logger)
    // The registry of the same data dir as the control plane; trusted signing keys as `hearth model` reads them.
    let dataDir = config.dataDir ?? ControlPlaneConfig.defaultDataDir()
    do {
      let policy = try SignaturePolicy(trustedKeysDirectory: ModelRegistry.defaultTrustedKeysDirectory(dataDirectory: dataDir), required: false)
      registry = ModelRegistry(dataDirectory: dataDir, policy: policy)
    } catch {
      throw ServerConfigError("model registry: \(error)")
    }
    deployments = DeploymentRouter(controlPlane: controlPlane, manager: manager, registry: registry, logger: logger)
    deploymentLog = DeploymentRequestLog(controlPlane: controlPlane, logger: logger)
  }

  /// Reads the body (refusing more than the configured limit) and parses it as JSON.
  func readJSON(_ request: Request) async throws -> JSON {
    var req = request
    let buffer: ByteBuffer
    do {
      buffer = try await req.collectBody(upTo: config.maxBodyBytes)
    } catch {
      throw APIError.tooLarge(limit: config.maxBodyBytes)
    }
    return try JSON.parse(Data(buffer.readableBytesView))
  }

  func json(_ body: JSON, status: HTTPResponse.Status = .ok, model: String? = nil) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    if let model { headers[.hearthModel] = model }
    return Response(status: status, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: body.text)))
  }
}

/// The server: the Hummingbird application plus the state its handlers share.
public struct HearthServer: Sendable {
  public let app: Application<RouterResponder<HearthRequestContext>>
  public let state: AppState

  /// Runs until SIGTERM or SIGINT. Then: readiness turns 503 and new requests are refused at
  /// once, in-flight requests get `shutdownGrace` seconds, and the process exits.
  public func run() async throws {
    let group = ServiceGroup(
      configuration: .init(
        services: [app, DrainService(state: state)], gracefulShutdownSignals: [.sigterm, .sigint], logger: state.logger))
    try await group.run()
  }
}

/// Builds the server for `hearth serve` and for the tests (which call it with their own config
/// and drive `app` without a socket, or live). There is no way to build it without a control plane:
/// every route but the public ones needs an API key.
public func buildApplication(config: ServerConfig, controlPlane: ControlPlaneServices, logger: Logger? = nil) async throws -> HearthServer {
  var log = logger ?? Logger(label: "hearth")
  if logger == nil { log.logLevel = .info }
  let state = try AppState(config: config, controlPlane: controlPlane, logger: log)
  let router = buildRouter(state: state)
  let http1 = HTTP1Channel.Configuration(additionalChannelHandlers: [ParserErrorResponder()])
  var server = HTTPServerBuilder.http1(configuration: http1)
  if let tls = config.tls { server = try HTTPServerBuilder.tls(.http1(configuration: http1), tlsConfiguration: try tls.configuration()) }
  var app = Application(
    router: router, server: server,
    configuration: .init(address: .hostname(config.host, port: config.port), serverName: "hearth"),
    logger: log)
  app.addServices(EngineLifecycle(state: state), DeploymentWatcher(state: state))
  return HearthServer(app: app, state: state)
}

/// Paths anyone may call: orchestrators probe health without credentials. Everything else is
/// registered behind `AuthMiddleware`, except `/metrics` when `publicMetrics` is set.
public let publicPaths: Set<String> = ["/health/live", "/health/ready"]

/// Paths that take credentials themselves instead of a key: the directory login (registered only
/// with `--ldap-config`), which answers 401 to anything but a valid username and password.
public let credentialPaths: Set<String> = ["/v1/auth/login"]

func buildRouter(state: AppState) -> Router<HearthRequestContext> {
  let router = Router(context: HearthRequestContext.self)
  router.middlewares.add(HTTPMetricsMiddleware(metrics: state.metrics))
  router.middlewares.add(APIErrorMiddleware())
  /// A group of routes that need an API key whose role holds `permission`.
  func protected(_ permission: Permission) -> RouterGroup<HearthRequestContext> {
    router.group().add(middleware: AuthMiddleware(keys: state.controlPlane.keys, sessions: state.sessions, permission: permission))
  }

  router.get("/health/live") { _, _ in state.json(.obj([("status", .string("ok"))])) }
  router.get("/health/ready") { _, _ -> Response in
    if await state.manager.isDraining { return state.json(.obj([("status", .string("draining"))]), status: .serviceUnavailable) }
    if await state.manager.isLoading { return state.json(.obj([("status", .string("loading"))]), status: .serviceUnavailable) }
    return state.json(.obj([("status", .string("ready"))]))
  }
  let metrics: @Sendable (Request, HearthRequestContext) async throws -> Response = { _, _ in
    await state.manager.publishStats()
    var headers = HTTPFields()
    headers[.contentType] = "text/plain; version=0.0.4; charset=utf-8"
    return Response(status: .ok, headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(string: state.metrics.text())))
  }
  // Prometheus scrapers often cannot send a key; --public-metrics opens this one route for them.
  if state.config.publicMetrics {
    router.get("/metrics", use: metrics)
  } else {
    protected(.metricsRead).get("/metrics", use: metrics)
  }

  let models = ModelsController(state: state)
  protected(.modelsRead).get("/v1/models", use: models.list)
    .get("/v1/models/{model}", use: models.get)

  let inference = InferenceController(state: state)
  protected(.inference).post("/v1/chat/completions", use: inference.chat)
    .post("/v1/completions", use: inference.completion)
    .post("/v1/embeddings", use: EmbeddingsController(state: state).embed)
    .post("/v1/feedback", use: DeploymentsController(state: state).feedback)

  AdminController(state: state).register(protected)
  DeploymentsController(state: state).register(protected)
  if let ldap = state.authenticator {
    LoginController(state: state, authenticator: ldap).register(on: router, protected)
  }
  return router
}

/// Loads the first model at start and unloads idle models; stops the engines when the
/// application stops.
struct EngineLifecycle: Service {
  let state: AppState

  func run() async throws {
    if state.config.preloadFirst, let first = state.config.models.first {
      Task { _ = try? await state.manager.engine(for: first.name) }
    }
    try? await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        try await Task.sleep(nanoseconds: 2_000_000_000)
        await state.manager.unloadIdle()
      }
    }
    await state.manager.drain(grace: 0)
  }
}

/// The first service told to shut down (it is listed last): it flips readiness to 503, refuses
/// new requests and lets in-flight ones finish within the grace period, before the HTTP server
/// itself stops.
struct DrainService: Service {
  let state: AppState

  func run() async throws {
    try? await gracefulShutdown()
    state.logger.info("draining: readiness is now 503; finishing in-flight requests", metadata: ["grace_s": .string("\(state.config.shutdownGrace)")])
    await state.manager.drain(grace: state.config.shutdownGrace)
    state.logger.info("drained")
  }
}

import Foundation
import Logging

/// How to open the control plane of a data dir.
public struct ControlPlaneConfig: Sendable {
  public var dataDir: String
  /// Where the master key comes from; nil leaves encryption at rest off.
  public var masterKey: MasterKeySource?
  public var auditFailurePolicy: AuditFailurePolicy = .failClosed
  public var checkpointEvery = 1000
  public var checkpointInterval: TimeInterval = 60
  public var environment: [String: String] = ProcessInfo.processInfo.environment
  public var clock: any TimeSource = SystemTime()
  public var logger = Logger(label: "hearth.control")

  public init(dataDir: String, masterKey: MasterKeySource? = nil) {
    self.dataDir = dataDir
    self.masterKey = masterKey
  }

  /// `$HEARTH_HOME`, else `~/.hearth`.
  public static func defaultDataDir(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
    if let h = environment["HEARTH_HOME"], !h.isEmpty { return h }
    return (NSHomeDirectory() as NSString).appendingPathComponent(".hearth")
  }
}

/// Everything the server and the CLI use, opened from one data dir: the store, encryption, the server
/// secret, the audit log, and the key, tenant, user and usage services.
public final class ControlPlaneServices: Sendable {
  public let store: any ControlStore
  /// Nil when no master key is configured.
  public let cipher: EnvelopeCipher?
  public let secret: ServerSecret
  public let audit: AuditLog
  public let keys: KeyService
  public let tenants: TenantService
  public let users: UserService
  public let usage: UsageMeter
  public let deployments: DeploymentService
  public let limiter: RateLimiter
  public let clock: any TimeSource

  public init(store: any ControlStore, cipher: EnvelopeCipher?, secret: ServerSecret, signer: AuditSigner, config: ControlPlaneConfig) {
    self.store = store
    self.cipher = cipher
    self.secret = secret
    clock = config.clock
    var auditLogger = config.logger
    auditLogger[metadataKey: "component"] = "audit"
    audit = AuditLog(
      store: store, signer: signer, secret: secret, cipher: cipher, failurePolicy: config.auditFailurePolicy,
      checkpointEvery: config.checkpointEvery, checkpointInterval: config.checkpointInterval, clock: config.clock, logger: auditLogger)
    var keyLogger = config.logger
    keyLogger[metadataKey: "component"] = "keys"
    keys = KeyService(store: store, secret: secret, audit: audit, clock: config.clock, logger: keyLogger)
    tenants = TenantService(store: store, audit: audit, encryptionAvailable: cipher != nil, clock: config.clock)
    users = UserService(store: store, audit: audit, clock: config.clock)
    usage = UsageMeter(store: store, clock: config.clock)
    var deploymentLogger = config.logger
    deploymentLogger[metadataKey: "component"] = "deployments"
    deployments = DeploymentService(store: store, audit: audit, clock: config.clock, logger: deploymentLogger)
    limiter = RateLimiter(clock: config.clock)
  }

  /// Opens (creating on first use) the SQLite store in `config.dataDir`, checks the master key against
  /// the stored data keys, and loads or creates the server secret and the audit signing key.
  public static func open(_ config: ControlPlaneConfig) async throws -> ControlPlaneServices {
    let store = try SQLiteControlStore(directory: config.dataDir)
    return try await open(config, store: store)
  }

  /// The same over any store (PostgreSQL later); secrets still live in `config.dataDir`.
  public static func open(_ config: ControlPlaneConfig, store: any ControlStore) async throws -> ControlPlaneServices {
    var cipher: EnvelopeCipher?
    if let source = config.masterKey {
      let c = EnvelopeCipher(provider: try source.load(), store: store)
      try await c.checkMasterKey()
      cipher = c
    } else if let k = try await store.dataKeys().first {
      // Encrypted data without a key would be unreadable and new prompts would go unkept: refuse early.
      throw EncryptionError.masterKeyRequired("the data dir (data keys wrapped by \(k.masterKeyID))")
    }
    let secret = try await ServerSecret.load(directory: config.dataDir, cipher: cipher, environment: config.environment)
    let signer = try await AuditSigner.load(directory: config.dataDir, cipher: cipher)
    return ControlPlaneServices(store: store, cipher: cipher, secret: secret, signer: signer, config: config)
  }

  /// Authorizes and admits one inference request: permission, model allowlist, budget, rate limits.
  /// Throws `ControlPlaneError.forbidden`/`.notFound` (403/404) or `QuotaError` (429).
  public func admitInference(_ p: Principal, model: String, promptTokens: Int) async throws -> Admission {
    try p.require(.inference)
    guard p.mayUse(model: model) else { throw ControlPlaneError.notFound("model \(model) for this key") }
    try await usage.checkBudget(p)
    return try limiter.admit(p, estimatedTokens: promptTokens)
  }

  /// Settles a finished inference request: frees its slot, counts its tokens, writes its audit record.
  /// Under the fail-closed policy an unwritable audit trail throws `AuditError` (answer 503).
  @discardableResult
  public func finishInference(_ a: Admission, _ call: InferenceCall, by p: Principal) async throws -> AuditRecord? {
    limiter.finish(a, actualTokens: call.promptTokens + call.completionTokens)
    try await usage.record(p, model: call.model, promptTokens: call.promptTokens, completionTokens: call.completionTokens)
    return try await audit.recordInference(call, by: p)
  }
}

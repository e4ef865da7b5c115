import ArgumentParser
import ControlPlane
import Foundation
import Kernels
import Logging
import Engine
import Server

/// `hearth serve`: the OpenAI-compatible server.
struct Serve: AsyncParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Serve models over an OpenAI-compatible HTTP API.")

  @Option(name: .customLong("model"), help: "A model to serve: PATH or NAME=PATH (repeatable). The first is loaded at start.")
  var models: [String] = []
  @Option(help: "Address to listen on (loopback unless told otherwise).") var host = "127.0.0.1"
  @Option(help: "Port to listen on.") var port = 8080
  /// The data dir holds the API keys, quotas and audit trail the server checks every request against.
  @OptionGroup var data: DataDirOptions
  @Option(name: .customLong("admin-key-file"), help: "Import this API key as a system admin key (default: $HEARTH_ADMIN_KEY).")
  var adminKeyFile: String?
  @Flag(name: .customLong("public-metrics"), help: "Serve /metrics without an API key (for Prometheus scrapers).") var publicMetrics = false
  @Option(name: .customLong("kv-cache-tokens"), help: "KV cache per model, in tokens.") var kvTokens: Int?
  @Option(name: .customLong("kv-cache-type"), help: "Keys and values in the KV cache: f16 (half the memory) or f32.")
  var kvCacheType: KVPrecision = .f16
  @Option(name: .customLong("kv-cache-mb"), help: "KV cache per model, in MiB (alternative to --kv-cache-tokens).") var kvMB: Int?
  @Option(name: .customLong("max-sequences"), help: "Sequences decoded together per model.") var maxSequences = 16
  @Option(name: .customLong("max-queue"), help: "Requests that may wait; beyond that, 429.") var maxQueue = 64
  @Option(help: "Threads for the forward pass (default: all cores).") var threads: Int?
  @Option(name: .customLong("max-body-bytes"), help: "Largest request body accepted.") var maxBodyBytes = 4 << 20
  @Option(name: .customLong("max-tokens-limit"), help: "Largest max_tokens a request may ask for.") var maxTokensLimit = 4096
  @Option(name: .customLong("request-timeout"), help: "Seconds before a request is cancelled.") var requestTimeout: Double = 600
  @Option(name: .customLong("keep-alive"), help: "Seconds an idle model stays loaded (0: forever).") var keepAlive: Double = 300
  @Option(name: .customLong("memory-budget-mb"), help: "Memory for loaded models together (0: no limit).") var memoryBudgetMB = 0
  @Option(name: .customLong("alias"), help: "ALIAS=MODEL: another name for a model (repeatable).") var aliases: [String] = []
  @Option(name: .customLong("pin"), help: "A model never unloaded (repeatable).") var pins: [String] = []
  @Option(name: .customLong("shutdown-grace"), help: "Seconds in-flight requests get on shutdown.") var shutdownGrace: Double = 30
  @Flag(name: .customLong("no-prefix-cache"), help: "Do not reuse KV blocks of shared prompt prefixes.") var noPrefixCache = false
  @Option(name: .customLong("tls-cert"), help: "PEM certificate chain: serve HTTPS (with --tls-key).") var tlsCert: String?
  @Option(name: .customLong("tls-key"), help: "PEM private key of --tls-cert.") var tlsKey: String?
  @Option(name: .customLong("tls-min-version"), help: "Oldest TLS version accepted: 1.3 (default) or 1.2.") var tlsMinVersion = "1.3"
  @Option(name: .customLong("tls-client-ca"), help: "PEM CA certificates: require client certificates they signed (mutual TLS).")
  var tlsClientCA: String?
  @Option(name: .customLong("ldap-config"), help: "JSON file: directory logins at POST /v1/auth/login (docs/security.md).")
  var ldapConfig: String?

  func validate() throws {
    if models.isEmpty { throw ValidationError("give at least one --model PATH") }
    if !(1...65535).contains(port) { throw ValidationError("--port must be between 1 and 65535") }
    if let t = kvTokens, t < 64 { throw ValidationError("--kv-cache-tokens must be at least 64") }
    if let m = kvMB, m < 1 { throw ValidationError("--kv-cache-mb must be at least 1") }
    if maxSequences < 1 || maxSequences > 256 { throw ValidationError("--max-sequences must be between 1 and 256") }
    if maxQueue < 0 { throw ValidationError("--max-queue must be 0 or more") }
    if maxBodyBytes < 1024 { throw ValidationError("--max-body-bytes must be at least 1024") }
    if requestTimeout <= 0 { throw ValidationError("--request-timeout must be positive") }
    for a in aliases where !a.contains("=") { throw ValidationError("--alias takes ALIAS=MODEL, got '\(a)'") }
    if (tlsCert == nil) != (tlsKey == nil) { throw ValidationError("--tls-cert and --tls-key go together") }
    if TLSSettings.MinimumVersion(rawValue: tlsMinVersion) == nil { throw ValidationError("--tls-min-version must be 1.2 or 1.3") }
    if tlsCert == nil && (tlsClientCA != nil || tlsMinVersion != "1.3") {
      throw ValidationError("--tls-client-ca and --tls-min-version need --tls-cert and --tls-key")
    }
  }

  func run() async throws {
    var c = ServerConfig()
    c.host = host
    c.port = port
    c.models = models.map(ServerConfig.parseModel)
    for m in c.models where !FileManager.default.fileExists(atPath: m.path) { fail("no such file: \(m.path)") }
    // Every model is opened once before the server listens, so a file that cannot load is refused at
    // start in one line (exit 2) instead of by the first request that names it. Weights are mmapped:
    // opening reads the header and tensor table, not the weights.
    for m in c.models {
      do {
        if ModelManager.isEncoder(m.path) { _ = try Embedder(path: m.path, threads: 1) } else { _ = try LoadedModel(path: m.path) }
      } catch { fail("\(error)") }
    }
    let names = Set(c.models.map(\.name))
    for a in aliases {
      let parts = a.split(separator: "=", maxSplits: 1).map(String.init)
      guard names.contains(parts[1]) else { fail("--alias \(a): no model named '\(parts[1])'", code: 64) }
      c.aliases[parts[0]] = parts[1]
    }
    for p in pins where !names.contains(p) { fail("--pin \(p): no model with that name", code: 64) }
    c.pinned = Set(pins)
    c.dataDir = data.directory
    c.publicMetrics = publicMetrics
    if let kvTokens { c.kvTokens = kvTokens }
    c.kvPrecision = kvCacheType
    c.kvMegabytes = kvMB
    c.maxSequences = maxSequences
    c.maxQueue = maxQueue
    c.threads = threads ?? ProcessInfo.processInfo.activeProcessorCount
    c.maxBodyBytes = maxBodyBytes
    c.limits.maxTokens = maxTokensLimit
    c.requestTimeout = requestTimeout
    c.keepAlive = keepAlive
    c.memoryBudgetBytes = memoryBudgetMB << 20
    c.shutdownGrace = shutdownGrace
    c.prefixCaching = !noPrefixCache
    if let tlsCert, let tlsKey {
      c.tls = TLSSettings(
        certificateFile: tlsCert, privateKeyFile: tlsKey, minimumVersion: TLSSettings.MinimumVersion(rawValue: tlsMinVersion)!, clientCAFile: tlsClientCA)
    }
    if let ldapConfig { c.ldap = await orFail { try LDAPSettings.load(path: ldapConfig) } }
    // A fresh data dir is created on first start. Bootstrap makes sure there is a way in: the imported
    // admin key, or on the very first start a new admin key printed once.
    let controlPlane = await data.open(mustExist: false, logLevel: .info)
    let boot = await orFail { try await Bootstrap.ensureAdmin(controlPlane, adminKey: Bootstrap.adminKey(file: adminKeyFile)) }
    if let line = boot.announcement { FileHandle.standardError.write(Data((line + "\n").utf8)) }
    let server = await orFail { try await buildApplication(config: c, controlPlane: controlPlane) }
    try await server.run()
    // Written at exit so a restart neither loses last-used times nor leaves the newest audit records
    // unsigned until the next checkpoint.
    await controlPlane.keys.flushLastUsed()
    _ = try? await controlPlane.audit.checkpoint()
  }
}

import Engine
import Foundation
import Kernels
import ServingAPI

/// Everything `hearth serve` is told, in one value that main and the tests both build.
public struct ServerConfig: Sendable {
  public struct ModelSpec: Sendable, Equatable {
    public var name: String
    public var path: String
    public init(name: String, path: String) {
      self.name = name
      self.path = path
    }
  }

  public var host = "127.0.0.1"
  public var port = 8080
  public var models: [ModelSpec] = []
  /// Extra names for models: alias → model name.
  public var aliases: [String: String] = [:]
  /// Models never unloaded for idleness or memory.
  public var pinned: Set<String> = []
  public var dataDir: String? = nil
  /// KV cache per loaded model, in tokens (or set by `kvMegabytes`, which wins when given).
  public var kvTokens = 8192
  /// Keys and values in the KV cache (nil: f16).
  public var kvPrecision: KVPrecision?
  public var kvMegabytes: Int? = nil
  public var maxSequences = 16
  public var maxBatchTokens = 256
  /// Requests allowed to wait for a slot before new ones get 429.
  public var maxQueue = 64
  public var threads = ProcessInfo.processInfo.activeProcessorCount
  public var maxBodyBytes = 4 << 20
  /// Seconds a request may run before it is cancelled.
  public var requestTimeout: Double = 600
  /// Seconds an unpinned model may sit idle before it is unloaded (0: never).
  public var keepAlive: Double = 300
  /// Bytes loaded models (weights plus KV cache) may use together; 0: no limit.
  public var memoryBudgetBytes: Int = 0
  /// Seconds in-flight requests get to finish on shutdown.
  public var shutdownGrace: Double = 30
  public var limits = RequestLimits()
  public var prefixCaching = true
  /// Serve `/metrics` without an API key (for Prometheus scrapers that cannot send one).
  public var publicMetrics = false
  /// Load the first model at start (the server is ready only once it is loaded).
  public var preloadFirst = true
  /// HTTPS instead of plain HTTP.
  public var tls: TLSSettings? = nil
  /// Directory logins (`POST /v1/auth/login`); nil: API keys only.
  public var ldap: LDAPSettings? = nil

  public init() {}

  /// A model's id: its file name without `.gguf`, or its folder's name.
  public static func defaultName(for path: String) -> String {
    let last = URL(fileURLWithPath: path).lastPathComponent
    return last.hasSuffix(".gguf") ? String(last.dropLast(5)) : last
  }

  /// Parses `NAME=PATH` or `PATH`.
  public static func parseModel(_ arg: String) -> ModelSpec {
    if let eq = arg.firstIndex(of: "="), !arg[..<eq].contains("/") {
      return ModelSpec(name: String(arg[..<eq]), path: String(arg[arg.index(after: eq)...]))
    }
    return ModelSpec(name: defaultName(for: arg), path: arg)
  }
}

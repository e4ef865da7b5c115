import Engine
import Foundation
import GGUF
import Logging
import ServingAPI

/// The models a server can serve: loaded on first use, unloaded after `keepAlive` seconds idle
/// or when the memory budget needs room (least recently used first), unless pinned.
public actor ModelManager {
  /// A loaded model: a generation engine (decoders), an embedder (encoders, and decoders on
  /// first embedding request), or both.
  struct Loaded {
    var engine: EngineService?
    var embedder: EmbeddingService?
    let bytes: Int
    var lastUsed: Date
  }

  public struct Info: Sendable {
    public var id: String
    public var path: String
    public var loaded: Bool
    public var pinned: Bool
    public var created: Int
  }

  let config: ServerConfig
  let metrics: ServerMetrics
  let logger: Logger
  private var specs: [String: ServerConfig.ModelSpec] = [:]
  private var order: [String] = []
  private var aliases: [String: String]
  private var pinned: Set<String>
  /// Registry versions served through deployments: loaded like any model, but not listed and not
  /// callable by their internal id (clients reach them only through a deployment's routing).
  private var versions: Set<String> = []
  private var loaders: [String: @Sendable () async throws -> LoadedModel] = [:]
  private var loaded: [String: Loaded] = [:]
  private var loading: [String: Task<Loaded, Error>] = [:]
  private var draining = false

  public init(config: ServerConfig, metrics: ServerMetrics, logger: Logger) {
    self.config = config
    self.metrics = metrics
    self.logger = logger
    for m in config.models where specs[m.name] == nil {
      specs[m.name] = m
      order.append(m.name)
    }
    aliases = config.aliases
    pinned = config.pinned
  }

  /// The model id a request's `model` names (an id or an alias), or nil.
  public func resolve(_ name: String) -> String? {
    if versions.contains(name) { return nil }
    if specs[name] != nil { return name }
    if let target = aliases[name], specs[target] != nil { return target }
    return nil
  }

  public var isLoading: Bool { !loading.isEmpty }
  public var isDraining: Bool { draining }

  public func list() -> [Info] {
    order.map { id in
      let created = (try? FileManager.default.attributesOfItem(atPath: specs[id]!.path)[.modificationDate] as? Date).map { Int($0.timeIntervalSince1970) } ?? 0
      return Info(id: id, path: specs[id]!.path, loaded: loaded[id] != nil, pinned: pinned.contains(id), created: created)
    }
  }

  public func aliasList() -> [(String, String)] { aliases.sorted { $0.key < $1.key }.map { ($0.key, $0.value) } }

  /// The running engine for a model (and the model's id), loading it first if needed.
  public func engine(for name: String) async throws(APIError) -> (id: String, engine: EngineService) {
    let (id, l) = try await load(name)
    guard let engine = l.engine else {
      throw .invalid("model", "'\(id)' is an embedding model; use /v1/embeddings", code: "model_not_generative")
    }
    return (id, engine)
  }

  /// Adds a registry version (already verified against its digest) under the internal id `id`.
  /// `loader`, when given, makes the model instead of mapping `path` (an encrypted version,
  /// decrypted and verified into memory on every load).
  func registerVersion(id: String, path: String, loader: (@Sendable () async throws -> LoadedModel)? = nil) {
    guard specs[id] == nil else { return }
    specs[id] = ServerConfig.ModelSpec(name: id, path: path)
    if let loader { loaders[id] = loader }
    versions.insert(id)
  }

  /// The engine of a registered registry version, loading it first if needed.
  func engine(version id: String) async throws(APIError) -> EngineService {
    let (_, l) = try await load(id, registryVersion: true)
    guard let engine = l.engine else {
      throw .invalid("model", "'\(id)' is an embedding model; it cannot serve chat or completions", code: "model_not_generative")
    }
    return engine
  }

  /// Keeps exactly `ids` of the registry versions from being unloaded (those a deployment serves or
  /// may roll back to).
  func pinVersions(_ ids: Set<String>) {
    pinned.subtract(versions.subtracting(ids))
    pinned.formUnion(ids.intersection(versions))
  }

  /// The embedder for a model: an encoder's own, or mean-pooled hidden states of a decoder
  /// (created on first use, sharing the decoder's weights).
  public func embedder(for name: String) async throws(APIError) -> (id: String, embedder: EmbeddingService) {
    let (id, l) = try await load(name)
    if let e = l.embedder { return (id, e) }
    let e = EmbeddingService(embedder: Embedder(decoder: l.engine!.model, threads: config.threads))
    loaded[id]?.embedder = e
    return (id, e)
  }

  /// Loads a model once (concurrent callers share the load), checking the memory budget first.
  private func load(_ name: String, registryVersion: Bool = false) async throws(APIError) -> (String, Loaded) {
    guard !draining else { throw .unavailable("the server is shutting down") }
    guard let id = registryVersion ? (versions.contains(name) ? name : nil) : resolve(name) else { throw .modelNotFound(name) }
    if var l = loaded[id] {
      l.lastUsed = Date()
      loaded[id] = l
      return (id, l)
    }
    let task: Task<Loaded, Error>
    if let t = loading[id] {
      task = t
    } else {
      let spec = specs[id]!
      let bytes = estimateBytes(spec.path)
      try makeRoom(for: bytes)
      let baseConfig = schedulerConfig()
      let kvMB = config.kvMegabytes
      let observer = metrics.observer(model: id)
      let maxQueue = config.maxQueue
      let threads = config.threads
      let log = logger
      let loader = loaders[id]
      task = Task.detached {
        let start = Date()
        func loaded(_ l: Loaded) -> Loaded {
          log.info("loaded model", metadata: ["model": .string(id), "seconds": .string(String(format: "%.3f", Date().timeIntervalSince(start)))])
          return l
        }
        if Self.isEncoder(spec.path) {
          return loaded(Loaded(engine: nil, embedder: EmbeddingService(embedder: try Embedder(path: spec.path, threads: threads)), bytes: bytes, lastUsed: Date()))
        }
        let model = try await loader?() ?? LoadedModel(path: spec.path)
        var cfg = baseConfig
        if let kvMB {
          cfg.kvTokens = max(64, cfg.kvTokens(megabytes: kvMB, model: model.config))
        }
        let engine = EngineService(model: model, config: cfg, maxQueue: maxQueue, observer: observer)
        return loaded(Loaded(engine: engine, embedder: nil, bytes: bytes, lastUsed: Date()))
      }
      loading[id] = task
    }
    do {
      let l = try await task.value
      if loaded[id] == nil { loaded[id] = l }
      loading[id] = nil
      return (id, loaded[id]!)
    } catch {
      loading[id] = nil
      logger.error("model failed to load", metadata: ["model": .string(id), "error": .string("\(error)")])
      throw .unavailable("model '\(id)' failed to load: \(error)", retryAfter: 30)
    }
  }

  /// A folder (safetensors BERT) or a GGUF whose architecture is `bert` only embeds.
  public nonisolated static func isEncoder(_ path: String) -> Bool {
    var isDir: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDir), isDir.boolValue { return true }
    return (try? GGUFFile(path: path))?.architecture == "bert"
  }

  func schedulerConfig() -> Scheduler.Config {
    var c = Scheduler.Config()
    c.threads = config.threads
    c.kvTokens = config.kvTokens
    c.maxSequences = config.maxSequences
    c.maxBatchTokens = config.maxBatchTokens
    c.prefixCaching = config.prefixCaching
    c.kvPrecision = config.kvPrecision
    return c
  }

  /// Weights (mapped file) plus a KV cache estimate.
  func estimateBytes(_ path: String) -> Int {
    let file = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    return file + config.kvTokens * 64 * 1024 / 2
  }

  /// Unloads idle unpinned models, least recently used first, until `bytes` more fit the budget.
  func makeRoom(for bytes: Int) throws(APIError) {
    guard config.memoryBudgetBytes > 0 else { return }
    var used = loaded.values.reduce(0) { $0 + $1.bytes }
    guard used + bytes > config.memoryBudgetBytes else { return }
    let victims = loaded.filter { !pinned.contains($0.key) && $0.value.isIdle }
      .sorted { $0.value.lastUsed < $1.value.lastUsed }
    for (id, l) in victims where used + bytes > config.memoryBudgetBytes {
      unload(id)
      used -= l.bytes
    }
    guard used + bytes <= config.memoryBudgetBytes else {
      throw .unavailable("not enough memory to load another model (budget \(config.memoryBudgetBytes) bytes)", retryAfter: 10)
    }
  }

  private func unload(_ id: String) {
    guard let l = loaded.removeValue(forKey: id) else { return }
    logger.info("unloading model", metadata: ["model": .string(id)])
    if let engine = l.engine { Task { await engine.shutdown(grace: 0) } }
  }

  /// Unloads models idle for longer than keep-alive; called periodically.
  public func unloadIdle(now: Date = Date()) {
    guard config.keepAlive > 0 else { return }
    for (id, l) in loaded where !pinned.contains(id) && now.timeIntervalSince(l.lastUsed) > config.keepAlive && l.isIdle {
      unload(id)
    }
  }

  public func setPinned(_ name: String, _ pin: Bool) throws(APIError) {
    guard let id = resolve(name) else { throw .modelNotFound(name) }
    if pin { pinned.insert(id) } else { pinned.remove(id) }
  }

  public func unload(named name: String) throws(APIError) {
    guard let id = resolve(name) else { throw .modelNotFound(name) }
    unload(id)
  }

  public func setAlias(_ alias: String, target: String?) throws(APIError) {
    if let target {
      guard specs[target] != nil else { throw .modelNotFound(target) }
      guard specs[alias] == nil else { throw .invalid("alias", "'\(alias)' is already a model id") }
      aliases[alias] = target
    } else {
      aliases[alias] = nil
    }
  }

  /// Engine gauges for /metrics.
  public func publishStats() {
    for (id, l) in loaded { if let e = l.engine { metrics.engineStats(model: id, e.stats) } }
  }

  public func stats(for name: String) -> EngineStats? {
    resolve(name).flatMap { loaded[$0]?.engine?.stats }
  }

  /// Stops taking requests; in-flight ones get `grace` seconds; then every engine stops.
  public func drain(grace: Double) async {
    draining = true
    let engines = loaded.values.compactMap(\.engine)
    await withTaskGroup(of: Void.self) { g in
      for e in engines { g.addTask { await e.shutdown(grace: grace) } }
    }
  }
}

extension ModelManager.Loaded {
  var isIdle: Bool {
    guard let s = engine?.stats else { return true }
    return s.running == 0 && s.waiting == 0
  }
}

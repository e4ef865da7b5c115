import Foundation
import Logging
import Testing

@testable import ControlPlane

/// A fresh data dir under the system temp dir, removed when the test's value goes away.
final class TempDir: @unchecked Sendable {
  let path: String

  init() {
    path = (NSTemporaryDirectory() as NSString).appendingPathComponent("hearth-cp-" + UUID().uuidString)
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
}

/// Log lines captured from every logger made with `CapturedLogs.logger`.
final class CapturedLogs: @unchecked Sendable {
  private let lock = NSLock()
  private var lines: [String] = []

  func add(_ s: String) {
    lock.lock()
    lines.append(s)
    lock.unlock()
  }

  var all: String {
    lock.lock()
    defer { lock.unlock() }
    return lines.joined(separator: "\n")
  }

  func logger(_ label: String = "test") -> Logger {
    var l = Logger(label: label) { _ in Handler(sink: self) }
    l.logLevel = .trace
    return l
  }

  struct Handler: LogHandler {
    let sink: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      let merged = metadata.merging(event.metadata ?? [:]) { $1 }
      sink.add("\(event.level) \(event.message) \(merged)")
    }
  }
}

/// A data dir opened with a manual clock, an admin key of the system tenant, and (optionally) a master key.
struct Fixture {
  let dir: TempDir
  let cp: ControlPlaneServices
  let clock: ManualTime
  let master: LocalMasterKey?
  let logs: CapturedLogs
  var store: SQLiteControlStore { cp.store as! SQLiteControlStore }
  static let admin = Principal(tenantID: Tenant.systemID, role: .admin, actor: "test:admin")

  init(
    encrypted: Bool = false, policy: AuditFailurePolicy = .failClosed, checkpointEvery: Int = 1000, dir: TempDir = TempDir(),
    backend: Backend = .sqlite
  ) async throws {
    self.dir = dir
    let clock = ManualTime()
    self.clock = clock
    let master = encrypted ? LocalMasterKey.generate() : nil
    self.master = master
    let logs = CapturedLogs()
    self.logs = logs
    var config = ControlPlaneConfig(dataDir: dir.path, masterKey: master.map { .base64($0.base64) })
    config.clock = clock
    config.environment = [:]
    config.auditFailurePolicy = policy
    config.checkpointEvery = checkpointEvery
    config.logger = logs.logger()
    switch backend {
    case .sqlite: cp = try await ControlPlaneServices.open(config)
    case .memory: cp = try await ControlPlaneServices.open(config, store: InMemoryControlStore())
    }
    _ = try await cp.tenants.ensureSystemTenant(by: Self.admin)
  }

  func tenant(_ name: String, policy: TenantPolicy = TenantPolicy()) async throws -> Tenant {
    try await cp.tenants.create(name: name, policy: policy, by: Self.admin)
  }

  func key(_ tenantID: String, role: Role = .developer, name: String = "k", configure: (inout NewAPIKey) -> Void = { _ in }) async throws -> CreatedAPIKey {
    var spec = NewAPIKey(tenantID: tenantID, name: name, role: role)
    configure(&spec)
    return try await cp.keys.create(spec, by: Self.admin)
  }
}

enum Backend: String, CaseIterable, Sendable {
  case sqlite, memory
}

/// Every occurrence of `needle` in `haystack` (byte search).
func contains(_ haystack: Data, _ needle: Data) -> Bool {
  haystack.range(of: needle) != nil
}

/// All bytes of the SQLite database (main file, WAL, shared memory) and every other file in the dir.
func allBytes(in dir: String) -> Data {
  var out = Data()
  let fm = FileManager.default
  for name in (try? fm.subpathsOfDirectory(atPath: dir)) ?? [] {
    let p = (dir as NSString).appendingPathComponent(name)
    var isDir: ObjCBool = false
    if fm.fileExists(atPath: p, isDirectory: &isDir), !isDir.boolValue, let d = fm.contents(atPath: p) { out.append(d) }
  }
  return out
}

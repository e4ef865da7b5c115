import Foundation
import Testing

@testable import Registry

/// Manifests kept in memory: shows the registry needs nothing of its store beyond the protocol,
/// as a database-backed store would provide.
final class MemoryManifestStore: ManifestStore, @unchecked Sendable {
  private let lock = NSRecursiveLock()
  private var manifests: [String: ModelManifest] = [:]

  private func key(_ n: ModelName, _ v: ModelVersion) -> String { "\(n):\(v)" }
  private func locked<T>(_ body: () throws(RegistryError) -> T) throws(RegistryError) -> T {
    lock.lock()
    defer { lock.unlock() }
    return try body()
  }
  private func sync<T>(_ body: () -> T) -> T {
    lock.lock()
    defer { lock.unlock() }
    return body()
  }

  func names() throws(RegistryError) -> [ModelName] { sync { Set(manifests.values.map(\.name)).sorted() } }
  func manifests(of name: ModelName) throws(RegistryError) -> [ModelManifest] {
    sync { manifests.values.filter { $0.name == name }.sorted(by: ModelManifest.importOrder) }
  }
  func manifest(_ name: ModelName, _ version: ModelVersion) throws(RegistryError) -> ModelManifest? { sync { manifests[key(name, version)] } }
  func create(_ m: ModelManifest) throws(RegistryError) -> Bool {
    sync {
      if manifests[key(m.name, m.version)] != nil { return false }
      manifests[key(m.name, m.version)] = m
      return true
    }
  }
  func replace(_ m: ModelManifest) throws(RegistryError) { sync { manifests[key(m.name, m.version)] = m } }
  func delete(_ name: ModelName, _ version: ModelVersion) throws(RegistryError) {
    try locked { () throws(RegistryError) in
      guard manifests.removeValue(forKey: key(name, version)) != nil else { throw .notFound(name: name.value, version: version.value) }
    }
  }
  func withWriteLock<T>(_ body: () throws(RegistryError) -> T) throws(RegistryError) -> T { try locked(body) }
}

@Suite struct StoreTests {
  @Test func theRegistryWorksOnAnyManifestStore() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let store = MemoryManifestStore()
    let r = ModelRegistry(dataDirectory: dir.file("data"), store: store)
    let m = try r.importModel(path: dir.file("tiny.gguf"), name: "tiny")
    #expect(try store.manifest(m.name, m.version) == m)
    #expect(!FileManager.default.fileExists(atPath: dir.file("data/registry")), "manifests went to the given store")
    #expect(try r.open(name: "tiny").manifest == m)
    #expect(try r.remove(name: "tiny", version: "1").blobRemoved)
  }

  @Test func aManifestFileMustDescribeItsOwnPath() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    _ = try r.importModel(path: dir.file("tiny.gguf"), name: "tiny")
    // A manifest copied under another name must not serve as that model.
    try FileManager.default.createDirectory(atPath: dir.file("data/registry/other"), withIntermediateDirectories: true)
    try FileManager.default.copyItem(atPath: dir.file("data/registry/tiny/1.json"), toPath: dir.file("data/registry/other/1.json"))
    #expect(throws: RegistryError.corruptManifest(path: dir.file("data/registry/other/1.json"), reason: "it describes tiny:1, not other:1")) {
      try r.open(name: "other", version: "1")
    }
    try Data("{".utf8).write(to: URL(fileURLWithPath: dir.file("data/registry/tiny/1.json")))
    #expect(throws: RegistryError.self) { try r.open(name: "tiny", version: "1") }
  }
}

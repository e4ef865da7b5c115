import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Where manifests live. The registry only talks to this protocol, so manifests can move to a
/// database while blobs stay content-addressed files.
public protocol ManifestStore: Sendable {
  func names() throws(RegistryError) -> [ModelName]
  /// Every version of `name`, in `ModelManifest.importOrder` (oldest first).
  func manifests(of name: ModelName) throws(RegistryError) -> [ModelManifest]
  func manifest(_ name: ModelName, _ version: ModelVersion) throws(RegistryError) -> ModelManifest?
  /// Stores a new version; returns false, changing nothing, when that name and version exist.
  func create(_ manifest: ModelManifest) throws(RegistryError) -> Bool
  /// Replaces an existing version's manifest (to add a signature).
  func replace(_ manifest: ModelManifest) throws(RegistryError)
  func delete(_ name: ModelName, _ version: ModelVersion) throws(RegistryError)
  /// Runs `body` holding the store's writer lock, across processes.
  func withWriteLock<T>(_ body: () throws(RegistryError) -> T) throws(RegistryError) -> T
}

/// Manifests as JSON files: `<root>/<name>/<version>.json`, each written through a temp file,
/// fsync and link/rename, with the directory fsynced after.
public struct FileManifestStore: ManifestStore {
  public let root: String

  public init(root: String) {
    self.root = root
  }

  func directory(_ name: ModelName) -> String { (root as NSString).appendingPathComponent(name.value) }
  func path(_ name: ModelName, _ version: ModelVersion) -> String {
    (directory(name) as NSString).appendingPathComponent(version.value + ".json")
  }

  public func names() throws(RegistryError) -> [ModelName] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: root) else { return [] }
    // Anything that is not a valid name (the lock file, stray files) is not a model.
    return entries.compactMap { try? ModelName($0) }.filter { isDirectory(directory($0)) }.sorted()
  }

  public func manifests(of name: ModelName) throws(RegistryError) -> [ModelManifest] {
    guard let entries = try? FileManager.default.contentsOfDirectory(atPath: directory(name)) else { return [] }
    var out: [ModelManifest] = []
    for e in entries where e.hasSuffix(".json") {
      guard let v = try? ModelVersion(String(e.dropLast(5))) else { continue }
      if let m = try manifest(name, v) { out.append(m) }
    }
    return out.sorted(by: ModelManifest.importOrder)
  }

  public func manifest(_ name: ModelName, _ version: ModelVersion) throws(RegistryError) -> ModelManifest? {
    let p = path(name, version)
    guard FileIO.regularFileSize(p) != nil else { return nil }
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: p)) } catch {
      throw .corruptManifest(path: p, reason: (error as NSError).localizedDescription)
    }
    let m = try ManifestCoding.decode(ModelManifest.self, data, path: p)
    guard m.schema == ModelManifest.currentSchema else { throw .corruptManifest(path: p, reason: "unknown schema \(m.schema)") }
    // A manifest copied or renamed by hand must not impersonate another model.
    guard m.name == name, m.version == version else {
      throw .corruptManifest(path: p, reason: "it describes \(m.reference), not \(name):\(version)")
    }
    return m
  }

  public func create(_ manifest: ModelManifest) throws(RegistryError) -> Bool {
    try FileIO.makeDirectories(directory(manifest.name))
    return try FileIO.writeAtomically(ManifestCoding.encode(manifest), to: path(manifest.name, manifest.version), createOnly: true)
  }

  public func replace(_ manifest: ModelManifest) throws(RegistryError) {
    try FileIO.writeAtomically(ManifestCoding.encode(manifest), to: path(manifest.name, manifest.version), createOnly: false)
  }

  public func delete(_ name: ModelName, _ version: ModelVersion) throws(RegistryError) {
    let p = path(name, version)
    guard unlink(p) == 0 else {
      if errno == ENOENT { throw .notFound(name: name.value, version: version.value) }
      throw FileIO.ioError(p, "cannot remove")
    }
    try FileIO.syncDirectory(directory(name))
    // The name's directory goes with its last version; rmdir fails harmlessly while others remain.
    if rmdir(directory(name)) == 0 { try FileIO.syncDirectory(root) }
  }

  public func withWriteLock<T>(_ body: () throws(RegistryError) -> T) throws(RegistryError) -> T {
    try FileIO.makeDirectories(root)
    return try FileIO.withLock((root as NSString).appendingPathComponent(".lock"), body)
  }

  func isDirectory(_ path: String) -> Bool {
    var st = stat()
    return stat(path, &st) == 0 && (st.st_mode & S_IFMT) == S_IFDIR
  }
}

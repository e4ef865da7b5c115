import Crypto
import Foundation
import GGUF

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A model file the registry has just checked: its bytes hashed to the manifest's digest.
public struct OpenedModel: Sendable {
  public let manifest: ModelManifest
  /// The content-addressed blob; read-only, never rewritten in place.
  public let path: String
}

/// The model registry: GGUF files stored content-addressed under the data directory
/// (`blobs/sha256/<hex>`), with one manifest per name and version kept by a `ManifestStore`.
///
/// Every name, version and digest is validated before it touches the filesystem. Imports are
/// atomic: the bytes go to a temp file that is fsynced and renamed into place, and a failed
/// import leaves neither a blob nor a manifest behind. `open` re-hashes the blob before handing
/// out its path, so a model whose bytes changed is refused with `digestMismatch`.
public final class ModelRegistry: Sendable {
  public let dataDirectory: String
  public let store: any ManifestStore
  public let policy: SignaturePolicy

  public init(dataDirectory: String, store: (any ManifestStore)? = nil, policy: SignaturePolicy = SignaturePolicy()) {
    self.dataDirectory = dataDirectory
    self.store = store ?? FileManifestStore(root: (dataDirectory as NSString).appendingPathComponent("registry"))
    self.policy = policy
  }

  /// `$HEARTH_HOME`, else `~/.hearth`: the same data directory the rest of Hearth uses.
  public static func defaultDataDirectory() -> String {
    if let home = ProcessInfo.processInfo.environment["HEARTH_HOME"], !home.isEmpty { return home }
    return (NSHomeDirectory() as NSString).appendingPathComponent(".hearth")
  }

  /// Where trusted signing keys (`*.pub`) live unless configured otherwise.
  public static func defaultTrustedKeysDirectory(dataDirectory: String) -> String {
    (dataDirectory as NSString).appendingPathComponent("trusted-keys")
  }

  var blobDirectory: String { (dataDirectory as NSString).appendingPathComponent("blobs/sha256") }
  var tempDirectory: String { (dataDirectory as NSString).appendingPathComponent("blobs/tmp") }

  public func blobPath(_ digest: Digest) -> String { (blobDirectory as NSString).appendingPathComponent(digest.hex) }

  // MARK: - Import

  /// Validates `path` as a servable model, stores it and records a manifest. `version` nil picks
  /// the next integer. `signature` (a publisher's detached signature) is checked and kept.
  /// `expectedDigest` pins the bytes: a file that hashes to anything else is not imported.
  public func importModel(
    path: String, name: String, version: String? = nil, expectedDigest: String? = nil, signature: ModelSignature? = nil,
    progress: ProgressHandler? = nil
  ) throws(RegistryError) -> ModelManifest {
    let staged = try stage(path: path, name: name, version: version, expectedDigest: expectedDigest, signature: signature, progress: progress)
    defer { unlink(staged.temp) }
    return try commit(staged, file: staged.temp)
  }

  /// A file copied into the registry's temp directory, hashed and inspected, with its manifest to be.
  struct Staged {
    let temp: String
    var manifest: ModelManifest
    let autoVersion: Bool
  }

  /// Everything of an import before the blob is moved into place: names checked, the file
  /// validated, copied (fsynced) into a temp file, hashed and inspected.
  func stage(
    path: String, name: String, version: String?, expectedDigest: String?, signature: ModelSignature?, progress: ProgressHandler?
  ) throws(RegistryError) -> Staged {
    let name = try ModelName(name)
    let version: ModelVersion? = try version.map { s throws(RegistryError) in try ModelVersion(s) }
    let pinned: Digest? = try expectedDigest.map { s throws(RegistryError) in try Digest(s) }
    if let version, try store.manifest(name, version) != nil { throw .alreadyExists(name: name.value, version: version.value) }
    // A cheap structural check first, so a wrong path fails before gigabytes are copied.
    do { _ = try GGUFFile(path: path) } catch {
      if case .cannotOpen(_, let reason) = error { throw .sourceUnreadable(path: path, reason: reason) }
      throw .invalidModel(path: path, reason: error.description)
    }

    try FileIO.makeDirectories(tempDirectory)
    try FileIO.makeDirectories(blobDirectory)
    let temp = (tempDirectory as NSString).appendingPathComponent("import-\(getpid())-\(UInt64.random(in: 0...UInt64.max))")
    var ok = false
    defer { if !ok { unlink(temp) } }
    let (digest, size, method) = try FileIO.store(path, to: temp, progress: progress)
    if let pinned, pinned != digest { throw .unexpectedDigest(path: path, expected: pinned.value, actual: digest.value) }
    // The recorded facts describe the stored copy, not a source that may have changed meanwhile.
    let facts = try ModelInspector.inspect(path: temp)

    let firstVersion: ModelVersion
    if let version { firstVersion = version } else { firstVersion = try ModelVersion("1") }
    var manifest = ModelManifest(
      name: name, version: firstVersion, digest: digest, size: size, architecture: facts.architecture,
      parameters: facts.parameters, quantTypes: facts.quantTypes, contextLength: facts.contextLength, chatTemplate: facts.chatTemplate,
      license: facts.license, modelName: facts.modelName, createdAt: ModelManifest.now(),
      source: URL(fileURLWithPath: path).standardizedFileURL.path, storedBy: method.rawValue)
    if let signature { manifest.signatures = [signature] }
    try policy.check(manifest)
    ok = true
    return Staged(temp: temp, manifest: manifest, autoVersion: version == nil)
  }

  /// Moves `file` (the staged temp file, or its sealed form) into place as the blob and records
  /// the manifest, under the write lock.
  func commit(_ staged: Staged, file: String) throws(RegistryError) -> ModelManifest {
    var manifest = staged.manifest
    let name = manifest.name
    return try store.withWriteLock { () throws(RegistryError) -> ModelManifest in
      let blob = storedPath(manifest)
      // Same bytes already stored: the fresh, just-hashed copy replaces them anyway, which also
      // repairs a blob that was damaged in place (readers that mapped the old one keep it).
      let existed = FileIO.regularFileSize(blob) != nil
      chmod(file, 0o444)
      guard rename(file, blob) == 0 else { throw FileIO.ioError(blob, "cannot store") }
      try FileIO.syncDirectory(blobDirectory)
      do throws(RegistryError) {
        if staged.autoVersion { manifest.version = try nextVersion(name) }
        guard try store.create(manifest) else { throw RegistryError.alreadyExists(name: name.value, version: manifest.version.value) }
      } catch {
        if !existed { _ = try? removeBlobIfUnreferenced(manifest.digest, encrypted: manifest.isEncrypted) }
        throw error
      }
      return manifest
    }
  }

  func nextVersion(_ name: ModelName) throws(RegistryError) -> ModelVersion {
    let highest = try store.manifests(of: name).compactMap(\.version.number).max() ?? 0
    return try ModelVersion(String(highest + 1))
  }

  // MARK: - Queries

  /// Every manifest, or those of one name, sorted by name then age.
  public func list(name: String? = nil) throws(RegistryError) -> [ModelManifest] {
    var names: [ModelName]
    if let name { names = [try ModelName(name)] } else { names = try store.names() }
    var out: [ModelManifest] = []
    for n in names { out += try store.manifests(of: n) }
    return out
  }

  /// One version's manifest; without a version, the most recently imported one.
  public func manifest(name: String, version: String? = nil) throws(RegistryError) -> ModelManifest {
    let n = try ModelName(name)
    if let version {
      let v = try ModelVersion(version)
      guard let m = try store.manifest(n, v) else { throw .notFound(name: n.value, version: v.value) }
      return m
    }
    guard let m = try store.manifests(of: n).last else { throw .notFound(name: n.value, version: nil) }
    return m
  }

  // MARK: - Verification and loading

  /// Re-hashes a version's blob and checks it against the manifest (and its signatures against
  /// the policy). Returns the manifest when everything matches.
  @discardableResult
  public func verify(name: String, version: String? = nil, progress: ProgressHandler? = nil) throws(RegistryError) -> ModelManifest {
    let m = try manifest(name: name, version: version)
    try checkBlob(m, progress: progress)
    return m
  }

  /// The path to serve a model from, after checking its signatures and re-hashing its bytes. A
  /// model whose bytes no longer match its digest is refused (`digestMismatch`), so whatever is
  /// serving keeps serving instead of switching to a corrupt file.
  public func open(name: String, version: String? = nil, progress: ProgressHandler? = nil) throws(RegistryError) -> OpenedModel {
    let m = try manifest(name: name, version: version)
    try checkBlob(m, progress: progress)
    return OpenedModel(manifest: m, path: blobPath(m.digest))
  }

  /// A plain version's stored file after the cheap checks (signatures, present, the manifest's
  /// size) but without re-hashing it: for readers of the header alone, such as the planner.
  /// Serving goes through `open`, which hashes too.
  public func storedFile(_ m: ModelManifest) throws(RegistryError) -> String {
    guard !m.isEncrypted else { throw .sealed(model: m.reference) }
    try policy.check(m)
    let blob = blobPath(m.digest)
    guard let size = FileIO.regularFileSize(blob) else { throw .blobMissing(model: m.reference, path: blob) }
    guard size == m.size else { throw .sizeMismatch(model: m.reference, expected: m.size, actual: size) }
    return blob
  }

  func checkBlob(_ m: ModelManifest, progress: ProgressHandler?) throws(RegistryError) {
    let blob = try storedFile(m)
    let (actual, _) = try FileIO.hashFile(blob, progress: progress)
    guard actual == m.digest else { throw .digestMismatch(model: m.reference, expected: m.digest.value, actual: actual.value) }
  }

  // MARK: - Changes

  /// Deletes one version; its blob goes too when no other version shares it. Returns the removed
  /// manifest and whether the blob was deleted.
  public func remove(name: String, version: String) throws(RegistryError) -> (manifest: ModelManifest, blobRemoved: Bool) {
    let n = try ModelName(name)
    let v = try ModelVersion(version)
    return try store.withWriteLock { () throws(RegistryError) -> (manifest: ModelManifest, blobRemoved: Bool) in
      guard let m = try store.manifest(n, v) else { throw .notFound(name: n.value, version: v.value) }
      try store.delete(n, v)
      return (m, try removeBlobIfUnreferenced(m.digest, encrypted: m.isEncrypted))
    }
  }

  /// Call with the write lock held.
  @discardableResult
  func removeBlobIfUnreferenced(_ digest: Digest, encrypted: Bool = false) throws(RegistryError) -> Bool {
    for n in try store.names() where try store.manifests(of: n).contains(where: { $0.digest == digest && $0.isEncrypted == encrypted }) {
      return false
    }
    let blob = encrypted ? sealedBlobPath(digest) : blobPath(digest)
    guard unlink(blob) == 0 else {
      if errno == ENOENT { return false }
      throw FileIO.ioError(blob, "cannot remove")
    }
    try FileIO.syncDirectory(blobDirectory)
    return true
  }

  /// Signs a stored version with `key` (after re-hashing it, so only intact bytes get signed)
  /// and records the signature in its manifest.
  public func sign(name: String, version: String? = nil, key: Curve25519.Signing.PrivateKey, progress: ProgressHandler? = nil)
    throws(RegistryError) -> ModelSignature
  {
    let m = try manifest(name: name, version: version)
    guard !m.isEncrypted else { throw .sealed(model: m.reference) }
    let blob = blobPath(m.digest)
    guard FileIO.regularFileSize(blob) != nil else { throw .blobMissing(model: m.reference, path: blob) }
    let (actual, size) = try FileIO.hashFile(blob, progress: progress)
    guard actual == m.digest else { throw .digestMismatch(model: m.reference, expected: m.digest.value, actual: actual.value) }
    let sig = try SignaturePolicy.sign(digest: actual, size: size, key: key)
    try store.withWriteLock { () throws(RegistryError) in
      guard var current = try store.manifest(m.name, m.version) else { throw .notFound(name: m.name.value, version: m.version.value) }
      current.signatures.removeAll { $0.keyID == sig.keyID }
      current.signatures.append(sig)
      try store.replace(current)
    }
    return sig
  }

  /// A detached signature for a model file that is not (yet) in a registry: what a publisher
  /// ships next to the file, for `importModel(signature:)`.
  public static func sign(file path: String, key: Curve25519.Signing.PrivateKey, progress: ProgressHandler? = nil) throws(RegistryError) -> ModelSignature {
    guard FileIO.regularFileSize(path) != nil else { throw .sourceUnreadable(path: path, reason: "no such file") }
    let (digest, size) = try FileIO.hashFile(path, progress: progress)
    return try SignaturePolicy.sign(digest: digest, size: size, key: key)
  }

  /// Reads a detached signature file written by `hearth model sign --out`.
  public static func readSignature(path: String) throws(RegistryError) -> ModelSignature {
    guard let size = FileIO.regularFileSize(path), size < 65536, let data = FileManager.default.contents(atPath: path) else {
      throw .signatureInvalid(model: path, reason: "cannot read the signature file")
    }
    do { return try ManifestCoding.decoder().decode(ModelSignature.self, from: data) } catch {
      throw .signatureInvalid(model: path, reason: ManifestCoding.reason(error))
    }
  }

  /// Manifests (or anything else the registry stores) as the registry writes them: pretty,
  /// sorted, snake_case JSON with ISO 8601 dates.
  public static func encodeJSON<T: Encodable>(_ value: T) -> Data { ManifestCoding.encode(value) }

  /// The JSON text of a detached signature file.
  public static func signatureFile(_ signature: ModelSignature) -> Data { ManifestCoding.encode(signature) }
}

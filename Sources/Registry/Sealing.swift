import Crypto
import Foundation
import GGUF

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Encrypts and decrypts stored model files. The registry calls one for versions imported with
/// encryption; it knows no keys itself. The server's implementation (`EnvelopeBlobSealer`) seals
/// with the control plane's envelope data keys, wrapped by the master key.
public protocol BlobSealer: Sendable {
  /// The name recorded in a sealed version's manifest (`encryption`).
  var scheme: String { get }
  func seal(_ plainPath: String, to sealedPath: String) async throws
  /// The plaintext size of a sealed file, from its header and length.
  func plaintextSize(_ sealedPath: String) throws -> Int
  /// Decrypts a sealed file, handing over each authenticated chunk in order.
  func unseal(_ sealedPath: String, chunks: (Data) throws -> Void) async throws
}

extension ModelRegistry {
  /// Where an encrypted version's file lives: beside the plain blob of the same digest, so a file
  /// imported both ways is stored both ways and each is removed with its last version.
  public func sealedBlobPath(_ digest: Digest) -> String { blobPath(digest) + ".sealed" }

  /// The stored file of a version, plain or sealed.
  public func storedPath(_ m: ModelManifest) -> String { m.isEncrypted ? sealedBlobPath(m.digest) : blobPath(m.digest) }

  /// Imports like `importModel`, but stores the file encrypted by `sealer`: the plaintext exists
  /// only in the registry's temp directory while it is hashed, inspected and sealed, and is
  /// deleted before this returns. Digest and size in the manifest are the plaintext's.
  public func importModel(
    path: String, name: String, version: String? = nil, expectedDigest: String? = nil, signature: ModelSignature? = nil,
    progress: ProgressHandler? = nil, sealer: any BlobSealer
  ) async throws(RegistryError) -> ModelManifest {
    var staged = try stage(path: path, name: name, version: version, expectedDigest: expectedDigest, signature: signature, progress: progress)
    staged.manifest.encryption = sealer.scheme
    let sealed = staged.temp + ".sealed"
    defer {
      unlink(staged.temp)
      unlink(sealed)
    }
    progress?("encrypting", 0, staged.manifest.size)
    do { try await sealer.seal(staged.temp, to: sealed) } catch {
      throw .sealing(model: "\(name):\(staged.manifest.version)", reason: "\(error)")
    }
    progress?("encrypting", staged.manifest.size, staged.manifest.size)
    unlink(staged.temp)
    try FileIO.syncFile(sealed)
    return try commit(staged, file: sealed)
  }

  /// Decrypts an encrypted version into memory, hashing the plaintext on the way, and hands the
  /// bytes out only when they hash to the manifest's digest (and its signatures pass the policy).
  /// A plain version is refused here: it is served from its mapped file.
  public func openSealed(name: String, version: String? = nil, sealer: any BlobSealer) async throws(RegistryError) -> (manifest: ModelManifest, bytes: ModelBytes) {
    let m = try manifest(name: name, version: version)
    guard m.isEncrypted else { throw .io(path: blobPath(m.digest), operation: "open as encrypted", reason: "\(m.reference) is stored in plain") }
    try policy.check(m)
    let path = sealedBlobPath(m.digest)
    guard FileIO.regularFileSize(path) != nil else { throw .blobMissing(model: m.reference, path: path) }
    let size: Int
    do { size = try sealer.plaintextSize(path) } catch { throw .sealing(model: m.reference, reason: "\(error)") }
    guard size == m.size else { throw .sizeMismatch(model: m.reference, expected: m.size, actual: size) }
    let bytes = ModelBytes(capacity: size)
    var hasher = SHA256()
    do {
      try await sealer.unseal(path) { chunk in
        hasher.update(data: chunk)
        try chunk.withUnsafeBytes { try bytes.append($0) }
      }
    } catch {
      throw .sealing(model: m.reference, reason: "\(error)")
    }
    let actual = Digest(sha256: hasher.finalize())
    guard bytes.count == m.size else { throw .sizeMismatch(model: m.reference, expected: m.size, actual: bytes.count) }
    guard actual == m.digest else { throw .digestMismatch(model: m.reference, expected: m.digest.value, actual: actual.value) }
    return (m, bytes)
  }

  /// `verify` for any version: a plain one is re-hashed, an encrypted one decrypted (with
  /// `sealer`) and hashed. Without a sealer an encrypted version is `sealed`.
  @discardableResult
  public func verify(name: String, version: String? = nil, sealer: (any BlobSealer)?, progress: ProgressHandler? = nil) async throws(RegistryError) -> ModelManifest {
    let m = try manifest(name: name, version: version)
    guard m.isEncrypted else { return try verify(name: name, version: m.version.value, progress: progress) }
    guard let sealer else { throw .sealed(model: m.reference) }
    return try await openSealed(name: name, version: m.version.value, sealer: sealer).manifest
  }
}

import ControlPlane
import Foundation
import Registry

/// Registry files encrypted with the control plane's envelope keys (AES-256-GCM in 1 MiB chunks,
/// data keys wrapped by the master key): what `hearth model import --encrypt` stores and what the
/// server decrypts into memory when a deployment serves such a version.
public struct EnvelopeBlobSealer: BlobSealer {
  public let cipher: EnvelopeCipher
  public var scheme: String { "envelope-aes-256-gcm" }

  public init(cipher: EnvelopeCipher) { self.cipher = cipher }

  public func seal(_ plainPath: String, to sealedPath: String) async throws {
    try await cipher.encryptFile(at: plainPath, to: sealedPath, context: "artifact")
  }

  public func plaintextSize(_ sealedPath: String) throws -> Int {
    try EnvelopeCipher.plaintextSize(ofEncryptedFileAt: sealedPath)
  }

  public func unseal(_ sealedPath: String, chunks: (Data) throws -> Void) async throws {
    try await cipher.decryptFile(at: sealedPath, context: "artifact", chunks: chunks)
  }
}

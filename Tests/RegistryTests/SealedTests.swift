import Crypto
import Foundation
import GGUF
import Testing

@testable import Registry

/// A real cipher for the registry's sealing hooks: the whole file under AES-256-GCM with one key
/// (the server's sealer uses the control plane's chunked envelope format instead).
struct AESFileSealer: BlobSealer {
  let key = SymmetricKey(size: .bits256)
  var scheme: String { "test-aes-256-gcm" }

  func seal(_ plainPath: String, to sealedPath: String) async throws {
    let box = try AES.GCM.seal(try Data(contentsOf: URL(fileURLWithPath: plainPath)), using: key)
    try box.combined!.write(to: URL(fileURLWithPath: sealedPath))
  }

  func plaintextSize(_ sealedPath: String) throws -> Int { try Data(contentsOf: URL(fileURLWithPath: sealedPath)).count - 28 }

  func unseal(_ sealedPath: String, chunks: (Data) throws -> Void) async throws {
    let plain = try AES.GCM.open(try AES.GCM.SealedBox(combined: try Data(contentsOf: URL(fileURLWithPath: sealedPath))), using: key)
    var at = 0
    while at < plain.count {
      try chunks(plain[at..<min(at + 1000, plain.count)])
      at += 1000
    }
  }
}

@Suite struct SealedTests {
  /// A tiny model file and a registry in a fresh directory, the file imported encrypted as tiny:1.
  static func sealedTiny() async throws -> (dir: TempDir, model: String, registry: ModelRegistry, sealer: AESFileSealer, manifest: ModelManifest) {
    let dir = TempDir()
    let model = dir.file("tiny.gguf")
    try writeTinyModel(to: model)
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    let sealer = AESFileSealer()
    return (dir, model, r, sealer, try await r.importModel(path: model, name: "tiny", sealer: sealer))
  }

  @Test func anEncryptedImportStoresNoPlaintextAndOpensOnlyWithTheKey() async throws {
    let (dir, model, r, sealer, m) = try await Self.sealedTiny()
    defer { dir.cleanup() }
    #expect(m.isEncrypted && m.encryption == "test-aes-256-gcm")
    let (plainDigest, plainSize) = try FileIO.hashFile(model, progress: nil)
    #expect(m.digest == plainDigest && m.size == plainSize, "digest and size are the plaintext's")
    // Only the sealed file is stored, and nothing of the GGUF shows in it; the temp dir is empty.
    #expect(dir.files(under: "data/blobs/sha256") == [m.digest.hex + ".sealed"])
    #expect(dir.files(under: "data/blobs/tmp").isEmpty)
    let stored = try Data(contentsOf: URL(fileURLWithPath: r.storedPath(m)))
    for plain in ["GGUF", "general.architecture", "apache-2.0", "token_embd.weight"] {
      #expect(stored.range(of: Data(plain.utf8)) == nil, "\(plain) visible in the stored file")
    }

    // With the key: decrypted into memory, hashed, and parsed as the original.
    let (opened, bytes) = try await r.openSealed(name: "tiny", sealer: sealer)
    #expect(opened == m && bytes.count == plainSize)
    #expect(try GGUFFile(taking: bytes).tensors.map(\.name) == GGUFFile(path: model).tensors.map(\.name))
    #expect(try await r.verify(name: "tiny", sealer: sealer) == m)

    // Without it: a typed refusal that says what is needed, never a read of ciphertext as GGUF.
    #expect(throws: RegistryError.sealed(model: "tiny:1")) { try r.open(name: "tiny") }
    #expect(throws: RegistryError.sealed(model: "tiny:1")) { try r.verify(name: "tiny") }
    await #expect(throws: RegistryError.sealed(model: "tiny:1")) { try await r.verify(name: "tiny", sealer: nil) }
    // Another key: the cipher's own authentication failure, named.
    await #expect {
      _ = try await r.openSealed(name: "tiny", sealer: AESFileSealer())
    } throws: { e in
      guard case .sealing(let model, _) = e as? RegistryError else { return false }
      return model == "tiny:1"
    }

    // The same file imported in plain is a second, separate blob; each goes with its last version.
    let plainVersion = try r.importModel(path: model, name: "tiny")
    #expect(Set(dir.files(under: "data/blobs/sha256")) == [m.digest.hex, m.digest.hex + ".sealed"])
    #expect(try r.remove(name: "tiny", version: m.version.value).blobRemoved)
    #expect(dir.files(under: "data/blobs/sha256") == [m.digest.hex])
    #expect(try r.verify(name: "tiny", version: plainVersion.version.value) == plainVersion)
  }

  @Test func aTamperedEncryptedFileIsRefused() async throws {
    let (dir, _, r, sealer, m) = try await Self.sealedTiny()
    defer { dir.cleanup() }
    try flipByte(r.storedPath(m), at: 100)
    await #expect {
      _ = try await r.openSealed(name: "tiny", sealer: sealer)
    } throws: { e in
      guard case .sealing = e as? RegistryError else { return false }
      return true
    }
  }
}

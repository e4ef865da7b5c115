import Engine
import Foundation
import GGUF
import Registry

/// Loading a registry version encrypted at rest: the registry decrypts it straight into one buffer
/// of its final size (each chunk authenticated before it is copied, the plaintext hashed against the
/// manifest's digest), and the GGUF is parsed in place. The plaintext never touches the disk, and a
/// tampered file fails before anything is parsed. The price is that the weights are no longer a
/// shared, lazily paged mapping of the file: the whole model is read, decrypted and resident at load
/// (docs/security.md measures it).
enum EncryptedModel {
  static func load(_ registry: ModelRegistry, name: String, version: String, sealer: any BlobSealer) async throws -> LoadedModel {
    let (m, bytes) = try await registry.openSealed(name: name, version: version, sealer: sealer)
    let file: GGUFFile
    do { file = try GGUFFile(taking: bytes) } catch { throw EngineError.model(path: m.reference, .gguf(error)) }
    return try LoadedModel(file: file, name: m.reference)
  }
}

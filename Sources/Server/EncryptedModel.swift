import ControlPlane
import Engine
import Foundation
import GGUF

/// Loading a model file encrypted at rest (`EnvelopeCipher.encryptFile`): it is decrypted straight
/// into one buffer of its final size, each chunk authenticated before it is copied, then parsed in
/// place. The plaintext never touches the disk, and a tampered file fails before anything is parsed.
/// The price is that the weights are no longer a shared, lazily paged mapping of the file: the whole
/// model is read, decrypted and resident at load (docs/performance.md measures it).
enum EncryptedModel {
  static func load(path: String, name: String, cipher: EnvelopeCipher) async throws -> LoadedModel {
    let bytes = ModelBytes(capacity: try EnvelopeCipher.plaintextSize(ofEncryptedFileAt: path))
    try await cipher.decryptFile(at: path) { chunk in
      try chunk.withUnsafeBytes { try bytes.append($0) }
    }
    guard bytes.count == bytes.capacity else {
      throw EncryptionError.malformedCiphertext("\(name): decrypted \(bytes.count) bytes, the header promised \(bytes.capacity)")
    }
    let file: GGUFFile
    do { file = try GGUFFile(taking: bytes) } catch { throw EngineError.model(path: name, .gguf(error)) }
    return try LoadedModel(file: file, name: name)
  }
}

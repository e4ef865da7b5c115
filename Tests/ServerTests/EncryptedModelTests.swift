import ControlPlane
import Engine
import Foundation
import Kernels
import Registry
import Testing

@testable import Server

/// A registry version encrypted at rest (the control plane's envelope keys) loads from memory and
/// answers exactly as the plain file does; its stored file shows none of the model's text; a flipped
/// byte stops the load.
@Suite struct EncryptedModelTests {
  static func encryptedRegistry() async throws -> (dir: URL, registry: ModelRegistry, sealer: EnvelopeBlobSealer) {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-enc-\(UUID().uuidString)")
    var config = ControlPlaneConfig(dataDir: dir.path, masterKey: .base64(LocalMasterKey.generate().base64))
    config.environment = [:]
    config.logger.logLevel = .error
    let cp = try await ControlPlaneServices.open(config)
    return (dir, ModelRegistry(dataDirectory: dir.path), EnvelopeBlobSealer(cipher: try #require(cp.cipher)))
  }

  @Test func anEncryptedVersionLoadsFromMemoryAndAnswersAsThePlainFile() async throws {
    let (dir, registry, sealer) = try await Self.encryptedRegistry()
    defer { try? FileManager.default.removeItem(at: dir) }
    let m = try await registry.importModel(path: TestModels.smol, name: "smol", version: "1", sealer: sealer)
    let sealed = registry.storedPath(m)

    // Nothing of the file shows through: not its magic, metadata keys, vocabulary or chat template.
    let ciphertext = try Data(contentsOf: URL(fileURLWithPath: sealed))
    for plain in ["GGUF", "general.architecture", "tokenizer.ggml.tokens", "<|im_start|>", "SmolLM2"] {
      #expect(ciphertext.range(of: Data(plain.utf8)) == nil, "\(plain) visible in the ciphertext")
    }

    let fromMemory = try await EncryptedModel.load(registry, name: "smol", version: "1", sealer: sealer)
    let fromFile = try LoadedModel(path: TestModels.smol)
    #expect(fromMemory.path == "smol:1")
    let tokens = try fromFile.chatTokens([ChatMessage(role: "user", content: "What is the capital of France?")])
    let pool = ThreadPool(threads: 2)
    let a = try Scoring.score(model: fromMemory.model, tokens: tokens, start: 1, top: 1, pool: pool)
    let b = try Scoring.score(model: fromFile.model, tokens: tokens, start: 1, top: 1, pool: pool)
    #expect(a.map(\.logprob) == b.map(\.logprob) && a.map(\.argmax) == b.map(\.argmax))

    // One flipped byte in the middle of the weights: authentication fails, nothing is loaded.
    chmod(sealed, 0o644)
    let handle = try #require(FileHandle(forUpdatingAtPath: sealed))
    try handle.seek(toOffset: UInt64(ciphertext.count / 2))
    let byte = try #require(try handle.read(upToCount: 1)).first!
    try handle.seek(toOffset: UInt64(ciphertext.count / 2))
    try handle.write(contentsOf: Data([byte ^ 0x01]))
    try handle.close()
    await #expect {
      _ = try await EncryptedModel.load(registry, name: "smol", version: "1", sealer: sealer)
    } throws: { e in
      guard case .sealing(let model, let reason) = e as? RegistryError else { return false }
      return model == "smol:1" && reason.contains("authentication")
    }
  }
}

/// What decrypting a registry version at load costs against mapping the plain file: the path a
/// deployment takes (decrypt, authenticate, hash, parse in place). Prints, never asserts timings;
/// runs only with HEARTH_BENCH=1 in a release build:
///   HEARTH_BENCH=1 HEARTH_MODELS=$PWD/models swift test -c release -Xswiftc -enable-testing --skip-build --filter EncryptedLoadBenchmarks
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_BENCH"] == "1"), .serialized)
struct EncryptedLoadBenchmarks {
  static func seconds(_ body: () async throws -> Void) async rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try await body()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
  }

  @Test func loadTimePlainAgainstEncrypted() async throws {
    let (dir, registry, sealer) = try await EncryptedModelTests.encryptedRegistry()
    defer { try? FileManager.default.removeItem(at: dir) }
    for (i, file) in ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"].enumerated() {
      let path = TestModels.dir + "/" + file
      let m = try await registry.importModel(path: path, name: "m\(i)", version: "1", sealer: sealer)
      _ = try Data(contentsOf: URL(fileURLWithPath: registry.storedPath(m)))  // both files warm in the page cache
      _ = try Data(contentsOf: URL(fileURLWithPath: path))
      var plain: [Double] = [], encrypted: [Double] = []
      for _ in 0..<3 {
        plain.append(try await Self.seconds { _ = try LoadedModel(path: path) })
        encrypted.append(try await Self.seconds { _ = try await EncryptedModel.load(registry, name: "m\(i)", version: "1", sealer: sealer) })
      }
      let (p, e) = (plain.sorted()[1], encrypted.sorted()[1])
      let mb = Double(m.size) / 1e6
      print(String(format: "%@  %.0f MB: plain (mmap) %.3f s, encrypted (decrypt, authenticate, hash into memory) %.3f s, +%.3f s (%.0f MB/s)",
                   file, mb, p, e, e - p, mb / max(e - p, 1e-9)))
    }
  }
}

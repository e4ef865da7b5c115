import ArgumentParser
import Foundation
import Registry

/// `hearth model import PATH --name NAME [--version V] [--encrypt]`: validate, hash and store a GGUF.
struct ModelImport: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "import",
    abstract: "Validate a GGUF model, store it content-addressed (reflink or copy) and record its manifest.")

  @Argument(help: "The .gguf file to import.") var path: String
  @Option(help: "Registry name (letters, digits, '.', '_', '-').") var name: String
  @Option(help: "Version label (default: the next integer).") var version: String?
  @Option(help: "Import only if the file's SHA-256 is this digest (sha256: and 64 lowercase hex).") var digest: String?
  @Option(help: "A detached signature file (from `hearth model sign --file ... --out`) to check and keep.") var signature: String?
  @Flag(help: "Store the file encrypted at rest (AES-256-GCM, keys wrapped by the master key); served decrypted into memory.")
  var encrypt = false
  @OptionGroup var registry: RegistryOptions
  @OptionGroup var key: MasterKeyOption

  func run() async throws {
    // Names are checked before anything touches the filesystem.
    do {
      _ = try ModelName(name)
      if let version { _ = try ModelVersion(version) }
      if let digest { _ = try Digest(digest) }
    } catch { failRegistry(error) }
    let sealer = encrypt ? await key.sealer(dataDir: registry.directory, required: true) : nil
    let r = registry.open()
    var sig: ModelSignature?
    if let signature {
      do { sig = try ModelRegistry.readSignature(path: signature) } catch { failRegistry(error) }
    }
    let bar = ProgressBar()
    let m: ModelManifest
    do {
      if let sealer {
        m = try await r.importModel(path: path, name: name, version: version, expectedDigest: digest, signature: sig, progress: bar.handler, sealer: sealer)
      } else {
        m = try r.importModel(path: path, name: name, version: version, expectedDigest: digest, signature: sig, progress: bar.handler)
      }
    } catch {
      bar.finishLine()
      failRegistry(error)
    }
    bar.finishLine()
    await auditRegistryChange(dataDir: registry.directory, key: key, action: "model.import", target: m, before: nil, after: m)
    print("imported \(manifestSummary(m)), stored \(m.isEncrypted ? "encrypted (\(m.encryption!))" : "by \(m.storedBy)")\(m.signatures.isEmpty ? "" : ", signed by \(m.signatures.map(\.keyID).joined(separator: ", "))")")
  }
}

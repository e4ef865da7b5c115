import ArgumentParser
import Foundation
import Registry

/// `hearth model sign NAME[:VERSION] --key KEY` or `hearth model sign --file PATH --key KEY --out SIG`.
struct ModelSign: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "sign",
    abstract: "Sign a model's digest with an Ed25519 private key.",
    discussion: """
      With NAME[:VERSION] the stored version is re-hashed, signed, and the signature recorded in its manifest \
      (and written to --out when given). With --file, a model file outside the registry is signed and the \
      detached signature written to --out, for `hearth model import --signature`.
      """)

  @Argument(help: "NAME or NAME:VERSION of a registered model.") var model: String?
  @Option(help: "Sign this file instead of a registered model.") var file: String?
  @Option(help: "Ed25519 private key, PEM (from `hearth model keygen` or `openssl genpkey -algorithm ed25519`).") var key: String
  @Option(help: "Write the detached signature (JSON) to this file.") var out: String?
  @OptionGroup var registry: RegistryOptions
  @OptionGroup var masterKey: MasterKeyOption

  func validate() throws {
    if (model == nil) == (file == nil) { throw ValidationError("give either a registered model or --file, not both") }
    if file != nil && out == nil { throw ValidationError("--file needs --out for the signature") }
  }

  func run() async throws {
    let ref = model.map(modelReference)
    let privateKey: ModelSigningKey
    do { privateKey = try ModelSigningKeys.loadPrivate(path: key) } catch { failRegistry(error) }
    let bar = ProgressBar()
    let signature: ModelSignature
    var change: (before: ModelManifest, after: ModelManifest)?
    do {
      if let ref {
        let r = registry.open()
        let before = try r.manifest(name: ref.name.value, version: ref.version?.value)
        signature = try r.sign(name: ref.name.value, version: before.version.value, key: privateKey, progress: bar.handler)
        change = (before, try r.manifest(name: ref.name.value, version: before.version.value))
      } else {
        signature = try ModelRegistry.sign(file: file!, key: privateKey, progress: bar.handler)
      }
    } catch {
      bar.finishLine()
      failRegistry(error)
    }
    bar.finishLine()
    if let change {
      await auditRegistryChange(
        dataDir: registry.directory, key: masterKey, action: "model.sign", target: change.after, before: change.before, after: change.after)
    }
    if let out {
      do { try ModelRegistry.signatureFile(signature).write(to: URL(fileURLWithPath: out)) } catch {
        fail("cannot write \(out): \((error as NSError).localizedDescription)", code: 1)
      }
    }
    print("signed \(ref?.description ?? file!) \(signature.digest) with key \(signature.keyID)\(out.map { ", signature in \($0)" } ?? "")")
  }
}

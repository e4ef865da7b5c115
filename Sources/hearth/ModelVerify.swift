import ArgumentParser
import Foundation
import Registry

/// `hearth model verify [NAME[:VERSION]...]`: re-hash stored files against their digests.
struct ModelVerify: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Re-hash stored model files and compare them with their manifests' digests (and signatures).",
    discussion: "With no argument every version of every model is checked; NAME checks all its versions. Exit status 1 when any check fails.")

  @Argument(help: "NAME or NAME:VERSION (default: everything).") var models: [String] = []
  @OptionGroup var registry: RegistryOptions
  @OptionGroup var key: MasterKeyOption

  func run() async throws {
    let refs = models.map(modelReference)
    let r = registry.open()
    var targets: [(String, String)] = []
    do throws(RegistryError) {
      if refs.isEmpty { targets = try r.list().map { ($0.name.value, $0.version.value) } }
      for ref in refs {
        if let v = ref.version {
          // A version that is not there is a mistyped argument, reported before any hashing.
          let m = try r.manifest(name: ref.name.value, version: v.value)
          targets.append((m.name.value, m.version.value))
        } else {
          let versions = try r.list(name: ref.name.value)
          if versions.isEmpty { throw RegistryError.notFound(name: ref.name.value, version: nil) }
          targets += versions.map { ($0.name.value, $0.version.value) }
        }
      }
    } catch { failRegistry(error) }
    // Encrypted versions are decrypted to be hashed, which needs the master key (when there is none,
    // they fail with a line that says so).
    let encrypted = targets.contains { (try? r.manifest(name: $0.0, version: $0.1).isEncrypted) == true }
    let sealer = encrypted ? await key.sealer(dataDir: registry.directory, required: false) : nil
    var failed = 0
    for (name, version) in targets {
      let bar = ProgressBar()
      do {
        let m = try await r.verify(name: name, version: version, sealer: sealer, progress: bar.handler)
        bar.finishLine()
        print("ok    \(m.reference) \(m.digest)")
      } catch {
        bar.finishLine()
        failed += 1
        print("FAIL  \(name):\(version) \(error.description)")
      }
    }
    // The per-model lines (stdout) come before the summary error (stderr) when both go to one log.
    fflush(nil)
    if failed > 0 { fail("\(failed) of \(targets.count) model versions failed verification", code: 1) }
    if targets.isEmpty { print("no models in \(registry.directory)") }
  }
}

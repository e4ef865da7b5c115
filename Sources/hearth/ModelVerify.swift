import ArgumentParser
import Foundation
import Registry

/// `hearth model verify [NAME[:VERSION]...]`: re-hash stored files against their digests.
struct ModelVerify: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "verify",
    abstract: "Re-hash stored model files and compare them with their manifests' digests (and signatures).",
    discussion: "With no argument every version of every model is checked; NAME checks all its versions. Exit status 1 when any check fails.")

  @Argument(help: "NAME or NAME:VERSION (default: everything).") var models: [String] = []
  @OptionGroup var registry: RegistryOptions

  func run() throws {
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
    var failed = 0
    for (name, version) in targets {
      let bar = ProgressBar()
      do {
        let m = try r.verify(name: name, version: version, progress: bar.handler)
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

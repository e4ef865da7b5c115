import ArgumentParser
import Foundation
import Registry

/// `hearth model show NAME[:VERSION]`: one version's manifest as JSON.
struct ModelShow: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show", abstract: "Print a model version's manifest (the latest version when none is given).")

  @Argument(help: "NAME or NAME:VERSION.") var model: String
  @OptionGroup var registry: RegistryOptions

  func run() throws {
    let ref = modelReference(model)
    let r = registry.open()
    do {
      let m = try r.manifest(name: ref.name.value, version: ref.version?.value)
      FileHandle.standardOutput.write(ModelRegistry.encodeJSON(m))
    } catch { failRegistry(error) }
  }
}

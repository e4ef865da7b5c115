import ArgumentParser
import Foundation
import Registry

/// `hearth model remove NAME:VERSION`: delete a version (and its file when no other version uses it).
struct ModelRemove: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "remove", abstract: "Remove a model version; its stored file goes too when no other version shares it.")

  @Argument(help: "NAME:VERSION (the version is required, so nothing is removed by accident).") var model: String
  @OptionGroup var registry: RegistryOptions

  func run() throws {
    let ref = modelReference(model)
    guard let version = ref.version else { fail("give the version to remove, as \(ref.name):VERSION", code: 64) }
    let r = registry.open()
    do {
      let (m, blobRemoved) = try r.remove(name: ref.name.value, version: version.value)
      print("removed \(m.reference) (\(blobRemoved ? "file deleted" : "file kept: another version has the same bytes"))")
    } catch { failRegistry(error) }
  }
}

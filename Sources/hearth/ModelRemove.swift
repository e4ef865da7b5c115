import ArgumentParser
import Foundation
import Registry

/// `hearth model remove NAME:VERSION`: delete a version (and its file when no other version uses it).
struct ModelRemove: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "remove", abstract: "Remove a model version; its stored file goes too when no other version shares it.")

  @Argument(help: "NAME:VERSION (the version is required, so nothing is removed by accident).") var model: String
  @OptionGroup var registry: RegistryOptions
  @OptionGroup var key: MasterKeyOption

  func run() async throws {
    let ref = modelReference(model)
    guard let version = ref.version else { fail("give the version to remove, as \(ref.name):VERSION", code: 64) }
    let r = registry.open()
    let removed: (manifest: ModelManifest, blobRemoved: Bool)
    do { removed = try r.remove(name: ref.name.value, version: version.value) } catch { failRegistry(error) }
    let m = removed.manifest
    await auditRegistryChange(dataDir: registry.directory, key: key, action: "model.remove", target: m, before: m, after: nil)
    print("removed \(m.reference) (\(removed.blobRemoved ? "file deleted" : "file kept: another version has the same bytes"))")
  }
}

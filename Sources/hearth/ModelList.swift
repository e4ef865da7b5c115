import ArgumentParser
import Foundation
import Registry

/// `hearth model list [NAME]`: every registered version, oldest first per name.
struct ModelList: ParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List registered models and their versions.")

  @Argument(help: "Only this model name.") var name: String?
  @Flag(help: "Print the manifests as JSON.") var json = false
  @OptionGroup var registry: RegistryOptions

  func run() throws {
    let r = registry.open()
    let all: [ModelManifest]
    do { all = try r.list(name: name) } catch { failRegistry(error) }
    if json {
      FileHandle.standardOutput.write(ModelRegistry.encodeJSON(all))
      return
    }
    if all.isEmpty {
      print(name.map { "no versions of \($0) in \(registry.directory)" } ?? "no models in \(registry.directory)")
      return
    }
    let day = ISO8601DateFormatter()
    let header = ["NAME", "VERSION", "ARCH", "PARAMS", "SIZE", "TYPES", "CTX", "SIGNED", "ENCRYPTED", "CREATED", "DIGEST"]
    let rows = all.map { m in
      [
        m.name.value, m.version.value, m.architecture, formatCount(m.parameters), formatBytes(m.size),
        m.quantTypes.prefix(3).map(\.type).joined(separator: "+"), m.contextLength.map(String.init) ?? "-",
        m.signatures.isEmpty ? "no" : "yes", m.isEncrypted ? "yes" : "no", day.string(from: m.createdAt), String(m.digest.value.prefix(19)),
      ]
    }
    let all2 = [header] + rows
    let widths = header.indices.map { i in all2.map { $0[i].count }.max() ?? 0 }
    for row in all2 {
      print(row.enumerated().map { i, c in i == row.count - 1 ? c : c.padding(toLength: widths[i], withPad: " ", startingAt: 0) }.joined(separator: "  "))
    }
  }
}

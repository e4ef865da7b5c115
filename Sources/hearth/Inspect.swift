import ArgumentParser
import Foundation
import GGUF

/// `hearth inspect PATH`: metadata, the tensor table and bytes by type.
struct Inspect: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Show a GGUF file's metadata, tensors and size by type.")

  @Argument(help: "Path to a .gguf file.") var path: String
  @Flag(help: "Print every tensor (default: the first 40).") var allTensors = false

  func run() throws {
    let f = openGGUF(path)
    print("file: \(path)")
    print("GGUF v\(f.version), \(f.metadataKeys.count) metadata keys, \(f.tensors.count) tensors, alignment \(f.alignment), data at byte \(f.dataOffset), \(f.fileSize) bytes")
    print("\nmetadata:")
    for k in f.metadataKeys { print("  \(k) = \(summary(f.metadata[k]!))") }
    print("\ntensors:")
    let shown = allTensors ? f.tensors : Array(f.tensors.prefix(40))
    let width = shown.map(\.name.count).max() ?? 0
    for t in shown {
      let dims = t.dims.map(String.init).joined(separator: " x ")
      print("  \(t.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(t.type.name.padding(toLength: 6, withPad: " ", startingAt: 0))  \(dims)")
    }
    if shown.count < f.tensors.count { print("  ... \(f.tensors.count - shown.count) more (--all-tensors)") }
    print("\nsize by type:")
    var byType: [GGMLType: (count: Int, bytes: Int, params: Int)] = [:]
    for t in f.tensors {
      let e = byType[t.type] ?? (0, 0, 0)
      byType[t.type] = (e.count + 1, e.bytes + t.byteCount, e.params + t.elementCount)
    }
    for (type, e) in byType.sorted(by: { $0.value.bytes > $1.value.bytes }) {
      print("  \(type.name.padding(toLength: 6, withPad: " ", startingAt: 0))  \(String(format: "%4d", e.count)) tensors  \(String(format: "%12d", e.params)) params  \(formatBytes(e.bytes))")
    }
    let params = f.tensors.reduce(0) { $0 + $1.elementCount }
    print("  total   \(String(format: "%4d", f.tensors.count)) tensors  \(String(format: "%12d", params)) params  \(formatBytes(f.tensors.reduce(0) { $0 + $1.byteCount }))")
  }

  private func summary(_ v: GGUFValue) -> String {
    switch v {
    case .string(let s):
      let oneLine = s.replacingOccurrences(of: "\n", with: "\\n")
      return oneLine.count > 100 ? "\"\(oneLine.prefix(100))...\" (\(s.count) chars)" : "\"\(oneLine)\""
    case .array(let a):
      let head: String
      switch a {
      case .string(let xs): head = xs.prefix(5).map { "\"\($0)\"" }.joined(separator: ", ")
      case .float32(let xs): head = xs.prefix(5).map { "\($0)" }.joined(separator: ", ")
      default: head = (a.ints ?? []).prefix(5).map(String.init).joined(separator: ", ")
      }
      return "[\(a.elementType)] x \(a.count): [\(head)\(a.count > 5 ? ", ..." : "")]"
    case .float32(let x): return "\(x)"
    case .float64(let x): return "\(x)"
    case .bool(let b): return "\(b)"
    default: return v.int.map(String.init) ?? "\(v)"
    }
  }
}

func formatBytes(_ n: Int) -> String {
  let units = ["B", "KiB", "MiB", "GiB", "TiB"]
  var v = Double(n)
  var u = 0
  while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
  return u == 0 ? "\(n) B" : String(format: "%.2f %@", v, units[u])
}

/// Opens a GGUF or exits with one line naming the problem.
func openGGUF(_ path: String) -> GGUFFile {
  guard FileManager.default.fileExists(atPath: path) else { fail("no such file: \(path)") }
  do { return try GGUFFile(path: path) } catch { fail("\(path): \(error.description)") }
}

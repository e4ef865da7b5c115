import Testing
import Foundation
@testable import GGUF

@Suite struct RealModelTests {
  @Test(arguments: ["SmolLM2-135M-Instruct.Q4_1.gguf", "gemma-3-270m-q4_k_m.gguf", "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"])
  func parsesRealModel(_ name: String) throws {
    let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models/\(name)").standardized.path
    let f = try GGUFFile(path: path)
    print(name, f.version, f.tensors.count, f.metadataKeys.count, f.alignment, f.dataOffset)
    for k in f.metadataKeys {
      let v = f.metadata[k]!
      if case .array(let a) = v { print(" ", k, "array", a.elementType, a.count) } else { print(" ", k, String(describing: v).prefix(200)) }
    }
    var types: [String: Int] = [:]
    for t in f.tensors { types[t.type.name, default: 0] += 1 }
    print(types)
    for t in f.tensors.prefix(20) { print("  ", t.name, t.dims, t.type.name) }
  }
}

import Foundation
import Testing

@testable import GGUF

/// The real models fetched by scripts/fetch-models (or $HEARTH_MODELS).
func modelPath(_ name: String) -> String {
  let dir = ProcessInfo.processInfo.environment["HEARTH_MODELS"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models").standardized.path
  return dir + "/" + name
}

@Suite struct RealModelTests {
  struct Expect: Sendable, CustomStringConvertible {
    let file: String, arch: String, tensors: Int, blocks: Int, vocab: Int
    var description: String { file }
  }

  static let models = [
    Expect(file: "SmolLM2-135M-Instruct.Q4_1.gguf", arch: "llama", tensors: 272, blocks: 30, vocab: 49152),
    Expect(file: "gemma-3-270m-q4_k_m.gguf", arch: "gemma3", tensors: 236, blocks: 18, vocab: 262_144),
    Expect(file: "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", arch: "qwen2", tensors: 291, blocks: 24, vocab: 151_936),
  ]

  @Test(arguments: models)
  func parsesRealModel(_ m: Expect) throws {
    let path = modelPath(m.file)
    guard FileManager.default.fileExists(atPath: path) else {
      Issue.record("missing \(path): run scripts/fetch-models"); return
    }
    let f = try GGUFFile(path: path)
    #expect(f.version == 3)
    #expect(f.architecture == m.arch)
    #expect(f.tensors.count == m.tensors)
    #expect(f.int("\(m.arch).block_count") == m.blocks)
    #expect(f.array("tokenizer.ggml.tokens")?.count == m.vocab)
    let last = f.tensors.max { $0.offset < $1.offset }!
    #expect(f.dataOffset + last.offset + last.byteCount <= f.fileSize)

    // The writer reproduces the header byte for byte from what the reader parsed.
    var w = GGUFWriter()
    w.copyMetadata(from: f)
    for t in f.tensors { try w.addTensor(name: t.name, dims: t.dims, type: t.type) { [] } }
    #expect(w.header() == Array(f.bytes[0..<f.dataOffset]))
  }
}

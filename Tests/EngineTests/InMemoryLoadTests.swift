import Foundation
import GGUF
import Kernels
import Testing

@testable import Engine

/// A model filled into memory (how an encrypted artifact is loaded) behaves exactly as the same
/// file mapped from disk.
@Suite struct InMemoryLoadTests {
  @Test func aModelLoadedFromMemoryScoresExactlyAsFromItsFile() throws {
    let path = RealModels.path("smollm2")
    guard FileManager.default.fileExists(atPath: path) else {
      Issue.record("missing \(path): run scripts/fetch-models")
      return
    }
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    let bytes = ModelBytes(capacity: data.count)
    // In uneven pieces, as decryption hands them over.
    var at = 0
    while at < data.count {
      let n = min(1_000_003, data.count - at)
      try data[at..<(at + n)].withUnsafeBytes { try bytes.append($0) }
      at += n
    }
    #expect(throws: GGUFError.self) { try [UInt8](repeating: 0, count: 1).withUnsafeBytes { try bytes.append($0) } }
    let fromMemory = try LoadedModel(file: try GGUFFile(taking: bytes), name: "smollm2 (memory)")
    let fromFile = try LoadedModel(path: path)
    #expect(fromMemory.path == "smollm2 (memory)")
    #expect(fromMemory.file.tensors.map(\.name) == fromFile.file.tensors.map(\.name))

    let tokens = try fromFile.chatTokens([ChatMessage(role: "user", content: "Name three colours.")]) + [504, 3529, 314]
    let pool = ThreadPool(threads: 2)
    let a = try Scoring.score(model: fromMemory.model, tokens: tokens, start: 4, top: 2, mode: .fast, pool: pool)
    let b = try Scoring.score(model: fromFile.model, tokens: tokens, start: 4, top: 2, mode: .fast, pool: pool)
    #expect(a.map(\.logprob) == b.map(\.logprob))
    #expect(a.map(\.argmax) == b.map(\.argmax))
  }

  @Test func aTruncatedInMemoryModelIsATypedError() throws {
    let bytes = ModelBytes(capacity: 64)
    try [UInt8](repeating: 0x47, count: 30).withUnsafeBytes { try bytes.append($0) }
    #expect(throws: GGUFError.self) { _ = try GGUFFile(taking: bytes) }
  }
}

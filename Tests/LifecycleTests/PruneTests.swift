import Foundation
import GGUF
import Models
import Testing

@testable import Lifecycle

@Suite struct PruneTests {
  @Test func layerListsParse() throws {
    #expect(try Pruner.parseLayers("3,7-9") == [3, 7, 8, 9])
    #expect(try Pruner.parseLayers("2, 1,1") == [1, 2])
  }

  @Test(arguments: ["", "a", "3-1", "-1", "1,,2", "1-2-3", "2-"])
  func badLayerListsAreRefused(_ s: String) {
    #expect(throws: LifecycleError.self) { try Pruner.parseLayers(s) }
  }

  @Test func droppedLayersGoAndTheRestAreRenumbered() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"), extra: [("llama.test_per_layer", .array(.int32([10, 11, 12, 13])))])
    let s = try Pruner.prune(input: dir.file("m.gguf"), output: dir.file("p.gguf"), drop: [1, 2])
    #expect(s.kept == [0, 3] && s.layersBefore == 4 && s.kindChanged.isEmpty)
    let src = try GGUFFile(path: dir.file("m.gguf"))
    let out = try GGUFFile(path: dir.file("p.gguf"))
    #expect(out.int("llama.block_count") == 2)
    #expect(out.array("llama.test_per_layer") == .int32([10, 13]), "per-layer arrays keep the kept layers' entries")
    #expect(out.tensors.count == src.tensors.count - 2 * 9)
    for (name, from) in [("blk.1.ffn_down.weight", "blk.3.ffn_down.weight"), ("blk.0.attn_q.weight", "blk.0.attn_q.weight"),
      ("output.weight", "output.weight")]
    {
      #expect(Array(out.data(for: out.tensor(named: name)!)) == Array(src.data(for: src.tensor(named: from)!)), "\(name)")
    }
    #expect(out.tensor(named: "blk.2.attn_q.weight") == nil)
    #expect(try Architectures.load(path: dir.file("p.gguf")).config.layers == 2)
  }

  @Test func impossiblePrunesAreRefused() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"))
    #expect(throws: LifecycleError.layerOutOfRange(layer: 4, count: 4)) {
      try Pruner.prune(input: dir.file("m.gguf"), output: dir.file("p.gguf"), drop: [4])
    }
    #expect(throws: LifecycleError.allLayersDropped(count: 4)) {
      try Pruner.prune(input: dir.file("m.gguf"), output: dir.file("p.gguf"), drop: [0, 1, 2, 3])
    }
    #expect(!FileManager.default.fileExists(atPath: dir.file("p.gguf")))
  }

  @Test func gemmaLayerKindsFollowTheNewIndex() throws {
    var w = GGUFWriter()
    w.set("general.architecture", .string("gemma3"))
    w.set("gemma3.attention.sliding_window", .uint32(512))
    w.set("gemma3.attention.sliding_window_pattern", .uint32(6))
    let f = try GGUFFile(bytes: w.bytes())
    // Global layers are 5 and 11. Without layer 0, old 5 becomes new 4 (now local), old 6 becomes
    // new 5 (now global) and old 11 becomes new 10 (now local).
    #expect(Pruner.kindChanges(f, arch: "gemma3", kept: Array(1..<12)) == [4, 5, 10])
    // Dropping one whole period keeps every kind.
    #expect(Pruner.kindChanges(f, arch: "gemma3", kept: Array(6..<12)) == [])
  }
}

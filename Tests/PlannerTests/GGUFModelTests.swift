import Foundation
import GGUF
import Testing

@testable import Planner

/// The real models fetched by scripts/fetch-models (or $HEARTH_MODELS).
func plannerModelPath(_ name: String) -> String {
  let dir = ProcessInfo.processInfo.environment["HEARTH_MODELS"]
    ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models").standardized.path
  return dir + "/" + name
}

let localModels = [
  ("SmolLM2-135M-Instruct.Q4_1.gguf", "smollm2-135m"),
  ("gemma-3-270m-q4_k_m.gguf", "gemma-3-270m"),
  ("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", "qwen2.5-0.5b"),
]

@Suite struct GGUFModelTests {
  /// A GGUF's metadata gives the same architecture as the preset of the model it holds, and its
  /// tensor table the same parameter count as the preset's formula.
  @Test(arguments: localModels)
  func ggufMatchesPreset(_ file: String, _ presetName: String) throws {
    let path = plannerModelPath(file)
    guard FileManager.default.fileExists(atPath: path) else { Issue.record("missing \(path): run scripts/fetch-models"); return }
    let g = try ModelSpec(ggufPath: path)
    let p = Presets.named(presetName)!
    #expect(g.layers == p.layers && g.hidden == p.hidden && g.heads == p.heads && g.kvHeads == p.kvHeads)
    #expect(g.headDim == p.headDim && g.ffn == p.ffn && g.vocab == p.vocab && g.maxContext == p.maxContext)
    #expect(g.slidingWindow == p.slidingWindow && g.globalLayers == p.globalLayers)
    let stored = try #require(g.stored)
    // Qwen's GGUF carries a separate output.weight although the HF model ties it: compare the rest.
    let fromTensors = stored.parameters - stored.output.parameters
    let fromFormula = p.architectureParameters.parameters - p.architectureParameters.output.parameters
    #expect(abs(Double(fromTensors) / Double(fromFormula) - 1) < 0.002, "\(fromTensors) vs \(fromFormula)")
    #expect(g.kvBytesPerToken(.f16) == p.kvBytesPerToken(.f16))
  }

  /// Weight bytes come from the tensor table, so a Q4_K_M mix counts as stored (its embeddings are
  /// Q8_0 or Q5_0), and the planner's weights_bytes equals the sum of tensor sizes.
  @Test func storedBytesAreTensorBytes() throws {
    let path = plannerModelPath("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf")
    guard FileManager.default.fileExists(atPath: path) else { Issue.record("missing \(path)"); return }
    let f = try GGUFFile(path: path)
    let g = try ModelSpec(gguf: f, path: path)
    let total = f.tensors.reduce(0) { $0 + $1.byteCount }
    #expect(g.stored!.bytes == Double(total))
    #expect(!g.tiedEmbeddings)
    #expect(g.attentionBias)
    #expect(g.storedPrecision == .int8)
    let plan = try Planner.plan(PlanRequest(model: g, weights: nil, context: 4096, hardware: MachineProfile(
      cpu: "test", threads: 2, memoryBytes: 8 * 1_073_741_824, bandwidthBytesPerSecond: 20e9, vectorFlopsPerSecond: 50e9).hardware()))
    #expect(plan.weightsBytes == total)
    #expect(plan.weightsFormat == "as stored (Q4_K_M)")
    // Re-planning in another format recomputes from the parameter count.
    let f16 = try Planner.plan(PlanRequest(model: g, weights: .f16, context: 4096, hardware: try Catalog().find("l4", field: "--gpu")))
    #expect(f16.weightsBytes == g.stored!.parameters * 2)
  }

  @Test func missingOrBadFileIsATypedError() throws {
    #expect(throws: PlannerError.self) { try ModelSpec(ggufPath: "/nonexistent/model.gguf") }
    let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("planner-bad-\(getpid()).gguf")
    try Data("not a gguf file at all, just some bytes".utf8).write(to: tmp)
    defer { try? FileManager.default.removeItem(at: tmp) }
    do {
      _ = try ModelSpec(ggufPath: tmp.path)
      Issue.record("a bad file parsed")
    } catch {
      #expect(error.description.hasPrefix("--model \(tmp.path):"))
    }
  }

  /// A GGUF without the planner's required keys is refused naming the key.
  @Test func missingKeyNamesTheKey() throws {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("llama.embedding_length", .uint32(64))
    let f = try GGUFFile(bytes: w.bytes())
    do {
      _ = try ModelSpec(gguf: f, path: "x.gguf")
      Issue.record("accepted a GGUF without block_count")
    } catch {
      #expect(error.description.contains("llama.block_count"))
    }
  }
}

import Foundation
import GGUF
import Kernels
import Models
import Testing

@testable import Lifecycle

@Suite struct QuantizeTests {
  func plan(_ target: GGMLType, tied: Bool = false, keepOutputF16: Bool = false) throws -> [String: TensorPlan] {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"), tied: tied)
    let p = try QuantizationPlan.plan(GGUFFile(path: dir.file("m.gguf")), target: target, keepOutputF16: keepOutputF16)
    return Dictionary(uniqueKeysWithValues: p.map { ($0.name, $0) })
  }

  @Test func typesAreChosenAsLlamaQuantizeChoosesThem() throws {
    let q8 = try plan(.q8_0)
    #expect(q8["output.weight"]?.to == .q8_0 && q8["output.weight"]?.note == nil)
    #expect(q8["blk.0.attn_q.weight"]?.to == .q8_0)
    #expect(q8["blk.0.attn_norm.weight"]?.to == .f32)

    let q4 = try plan(.q4_0)
    // The output wants Q6_K; rows of 64 are not a 256 block, so it falls back to Q8_0.
    #expect(q4["output.weight"]?.to == .q8_0)
    #expect(q4["token_embd.weight"]?.to == .q4_0, "an untied embedding takes the target type")
    #expect(q4["blk.3.ffn_down.weight"]?.to == .q4_0)

    let k = try plan(.q4_K)
    #expect(k["blk.0.ffn_down.weight"]?.to == .q4_K, "rows of 256 take the K type")
    #expect(k["blk.0.attn_q.weight"]?.to == .q5_0, "rows of 64 fall back from Q4_K to Q5_0")
    // Q4_K_M over 4 layers: useMoreBits picks layers 2 and 3 (every third, the last eighth).
    #expect(k["blk.1.attn_v.weight"]?.to == .q5_0, "attn_v of layer 1 keeps Q4_K, which falls back to Q5_0")
    #expect(k["blk.2.attn_v.weight"]?.to == .q8_0, "attn_v of layer 2 wants Q6_K, which falls back to Q8_0")
    #expect(k["blk.3.ffn_down.weight"]?.to == .q6_K && k["blk.1.ffn_down.weight"]?.to == .q4_K)
    #expect((0..<30).filter { QuantizationPlan.useMoreBits($0, 30) } == [0, 1, 2, 5, 8, 11, 14, 17, 20, 23, 26, 27, 28, 29])
    #expect(k["output.weight"]?.to == .q8_0)

    #expect(try plan(.q4_0, tied: true)["token_embd.weight"]?.to == .q8_0, "a tied embedding is treated as the output")
    let f16 = try plan(.q4_0, keepOutputF16: true)
    #expect(f16["output.weight"]?.to == .f16 && f16["token_embd.weight"]?.to == .f16)
  }

  @Test func rowsThatFitNoBlockFallBackToF16() throws {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    try w.addTensor(name: "blk.0.ffn_up.weight", dims: [48, 4], floats: [Float](repeating: 0.5, count: 192))
    try w.addTensor(name: "blk.0.ffn_down.weight", dims: [96, 2], floats: [Float](repeating: 0.5, count: 192))
    let p = try QuantizationPlan.plan(GGUFFile(bytes: w.bytes()), target: .q4_K)
    #expect(p.map(\.to) == [.f16, .q5_0])
    #expect(QuantizationPlan.fallback(.q6_K, cols: 576, note: nil).0 == .q8_0)
    #expect(QuantizationPlan.fallback(.q5_K, cols: 576, note: nil).0 == .q5_1)
  }

  @Test(arguments: QuantizationPlan.targets)
  func quantizedTinyModelsKeepMetadataAndStayClose(_ target: GGMLType) throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("f32.gguf"), f16Norms: true)
    let s = try Quantizer.quantize(input: dir.file("f32.gguf"), output: dir.file("q.gguf"), target: target, threads: 2)
    let src = try GGUFFile(path: dir.file("f32.gguf"))
    let out = try GGUFFile(path: dir.file("q.gguf"))
    #expect(out.int("general.file_type") == Int(QuantizationPlan.fileType(target)))
    #expect(out.array("tokenizer.ggml.tokens") == src.array("tokenizer.ggml.tokens"))
    #expect(out.tensors.map(\.name) == src.tensors.map(\.name))
    #expect(out.tensors.map(\.type) == s.plan.map(\.to))
    #expect(out.tensor(named: "blk.0.attn_norm.weight")?.type == .f32, "1-D tensors are stored as F32")

    // Every tensor's values survive within its type's precision.
    for t in src.tensors {
      let q = out.tensor(named: t.name)!
      let a = values(src, t), b = values(out, q)
      let rms = (zip(a, b).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(a.count)).squareRoot()
      let scale = (a.reduce(0.0) { $0 + Double($1 * $1) } / Double(a.count)).squareRoot()
      let limits: [GGMLType: Double] = [.q8_0: 0.01, .q6_K: 0.03, .q5_0: 0.05, .q5_1: 0.05, .q5_K: 0.05, .f16: 0.001, .f32: 0.001]
      let limit = limits[q.type] ?? 0.12
      #expect(rms / scale < limit, "\(t.name) as \(q.type.name): relative RMS error \(rms / scale)")
    }

    // The result binds and runs in Hearth, with logits close to the F32 model's.
    let base = try logits(Architectures.load(path: dir.file("f32.gguf")))
    let quant = try logits(Architectures.load(path: dir.file("q.gguf")))
    let err = (zip(base, quant).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(base.count)).squareRoot()
    let scale = (base.reduce(0.0) { $0 + Double($1 * $1) } / Double(base.count)).squareRoot()
    // A random network amplifies weight errors; measured 0.013 (Q8_0) to 0.21 (Q4_0).
    let logitLimits: [GGMLType: Double] = [.q8_0: 0.03, .q6_K: 0.03, .q4_0: 0.3, .q4_1: 0.3]
    #expect(err / scale < logitLimits[target] ?? 0.15, "logits relative RMS error \(err / scale)")
  }

  /// Every converted tensor is exactly what the scalar reference gives: dequantize the whole
  /// tensor, then `Quantize.row` each row, single-threaded. Starts from Q4_1, as SmolLM2 does.
  @Test(arguments: QuantizationPlan.targets)
  func tensorsMatchTheScalarReference(_ target: GGMLType) throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("f32.gguf"))
    _ = try Quantizer.quantize(input: dir.file("f32.gguf"), output: dir.file("q4_1.gguf"), target: .q4_1, threads: 1)
    let s = try Quantizer.quantize(input: dir.file("q4_1.gguf"), output: dir.file("out.gguf"), target: target, threads: 2)
    let src = try GGUFFile(path: dir.file("q4_1.gguf"))
    let out = try GGUFFile(path: dir.file("out.gguf"))
    var converted = 0
    for p in s.plan where p.from != p.to {
      converted += 1
      let x = values(src, src.tensor(named: p.name)!)
      let cols = p.dims[0], rows = x.count / cols
      var expected: [UInt8] = []
      x.withUnsafeBufferPointer { xs in
        for r in 0..<rows { expected += Quantize.row(p.to, xs.baseAddress! + r * cols, count: cols) }
      }
      #expect(Array(out.data(for: out.tensor(named: p.name)!)) == expected, "\(p.name) as \(p.to.name)")
    }
    #expect(converted > 0 || target == .q4_1)
  }

  @Test func requantizingIsDeterministicAndSameTypeIsACopy() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("f32.gguf"))
    _ = try Quantizer.quantize(input: dir.file("f32.gguf"), output: dir.file("a.gguf"), target: .q4_0, threads: 1)
    _ = try Quantizer.quantize(input: dir.file("f32.gguf"), output: dir.file("b.gguf"), target: .q4_0, threads: 2)
    let a = try Data(contentsOf: URL(fileURLWithPath: dir.file("a.gguf")))
    #expect(a == (try Data(contentsOf: URL(fileURLWithPath: dir.file("b.gguf")))), "thread count must not change the bytes")
    _ = try Quantizer.quantize(input: dir.file("a.gguf"), output: dir.file("c.gguf"), target: .q4_0)
    let c = try GGUFFile(path: dir.file("c.gguf")), aFile = try GGUFFile(path: dir.file("a.gguf"))
    for t in aFile.tensors { #expect(Array(c.data(for: c.tensor(named: t.name)!)) == Array(aFile.data(for: t))) }
  }

  @Test func badRequestsAreRefusedBeforeWriting() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"))
    #expect(throws: LifecycleError.sameFile(dir.file("m.gguf"))) {
      try Quantizer.quantize(input: dir.file("m.gguf"), output: dir.file("m.gguf"), target: .q8_0)
    }
    #expect(throws: LifecycleError.unsupportedTarget("Q2_K")) {
      try Quantizer.quantize(input: dir.file("m.gguf"), output: dir.file("o.gguf"), target: .q2_K)
    }
    #expect(throws: LifecycleError.self) { try Quantizer.quantize(input: dir.file("none.gguf"), output: dir.file("o.gguf"), target: .q8_0) }
    #expect(!FileManager.default.fileExists(atPath: dir.file("o.gguf")))
  }

  func values(_ f: GGUFFile, _ t: GGUFTensorInfo) -> [Float] {
    var out = [Float](repeating: 0, count: t.elementCount)
    out.withUnsafeMutableBufferPointer { Dequant.row(t.type, f.data(for: t).baseAddress!, $0.baseAddress!, count: t.elementCount) }
    return out
  }

  /// Logits of every position of a short token sequence, exact mode.
  func logits(_ m: any LanguageModel) throws -> [Float] {
    let tokens = [0, 3, 4, 7, 9, 12, 2, 29]
    let pool = ThreadPool(threads: 1)
    let state = m.makeState(maxBatch: tokens.count, maxOutputs: tokens.count, mode: .exact, pool: pool)
    let cache = m.makeCache(maxTokens: 32, mode: .exact)
    let seq = cache.createSequence()
    var batch = Batch(capacity: tokens.count)
    for (i, t) in tokens.enumerated() { batch.add(token: t, position: i, sequence: seq, logits: true) }
    let rows = try m.forward(batch, cache: cache, state: state)
    return (0..<rows).flatMap { Array(state.logitsRow($0)) }
  }
}

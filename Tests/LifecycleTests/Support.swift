import Foundation
import GGUF
import Kernels
import Testing

let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized.path
let smolLM = "SmolLM2-135M-Instruct.Q4_1.gguf"

/// A real model fetched by scripts/fetch-models ($HEARTH_MODELS or models/); a missing one fails the test.
func requireModel(_ name: String) -> String? {
  let path = (ProcessInfo.processInfo.environment["HEARTH_MODELS"] ?? packageRoot + "/models") + "/" + name
  guard FileManager.default.fileExists(atPath: path) else {
    Issue.record("missing \(path): run scripts/fetch-models")
    return nil
  }
  return path
}

/// The evaluation corpus written by scripts/eval-corpus ($HEARTH_EVAL_CORPUS or
/// .build-fixtures/corpus/pride-and-prejudice.txt), cut to its first `characters`.
func requireCorpus(characters: Int) -> String? {
  let path = ProcessInfo.processInfo.environment["HEARTH_EVAL_CORPUS"] ?? packageRoot + "/.build-fixtures/corpus/pride-and-prejudice.txt"
  guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
    Issue.record("missing \(path): run scripts/eval-corpus")
    return nil
  }
  return String(text.prefix(characters))
}

/// A throwaway directory under the system temp dir.
struct TempDir {
  let path: String

  init() {
    path = (NSTemporaryDirectory() as NSString).appendingPathComponent("hearth-lifecycle-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
  func cleanup() { try? FileManager.default.removeItem(atPath: path) }
}

/// Shapes of the tiny llama: rows of 64 (not a whole Q4_K block, so K-quants must fall back)
/// and an ffn of 256 (exactly one K block, so ffn_down keeps the K type).
enum Tiny {
  static let vocab = ["a", "b", "ab", "Ġ", "Ġab", "<|endoftext|>"] + "cdefghijklmnopqrstuvwxyz".map(String.init)
  static let dim = 64, ffn = 256, heads = 4, kvHeads = 2, headDim = 16, layers = 4

  /// Writes an F32 tiny llama (untied output unless `tied`); norms F16 when `f16Norms`.
  static func write(to path: String, tied: Bool = false, f16Norms: Bool = false, seed: UInt64 = 7, extra: [(String, GGUFValue)] = []) throws {
    var w = GGUFWriter()
    let kv: [(String, GGUFValue)] = [
      ("general.architecture", .string("llama")), ("general.file_type", .uint32(0)),
      ("llama.block_count", .uint32(UInt32(layers))), ("llama.context_length", .uint32(256)),
      ("llama.embedding_length", .uint32(UInt32(dim))), ("llama.feed_forward_length", .uint32(UInt32(ffn))),
      ("llama.attention.head_count", .uint32(UInt32(heads))), ("llama.attention.head_count_kv", .uint32(UInt32(kvHeads))),
      ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
      ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt-2")),
      ("tokenizer.ggml.tokens", .array(.string(vocab))),
      ("tokenizer.ggml.token_type", .array(.int32(vocab.map { $0 == "<|endoftext|>" ? 3 : 1 }))),
      ("tokenizer.ggml.merges", .array(.string(["a b", "Ġ ab"]))), ("tokenizer.ggml.eos_token_id", .uint32(5)),
    ]
    for (k, v) in kv + extra { w.set(k, v) }
    var state = seed &* 0x9E37_79B9_7F4A_7C15
    func floats(_ n: Int, scale: Float) -> [Float] {
      (0..<n).map { _ in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return (Float(Int64(bitPattern: state >> 11) % 20001) / 10000 - 1) * scale
      }
    }
    func norm(_ name: String) throws {
      let ones = floats(dim, scale: 0.1).map { 1 + $0 }
      if f16Norms {
        let bytes = ones.flatMap { f -> [UInt8] in withUnsafeBytes(of: Half.fromFloat(f).littleEndian, Array.init) }
        try w.addTensor(name: name, dims: [dim], type: .f16, bytes: bytes)
      } else {
        try w.addTensor(name: name, dims: [dim], floats: ones)
      }
    }
    try w.addTensor(name: "token_embd.weight", dims: [dim, vocab.count], floats: floats(dim * vocab.count, scale: 1))
    for l in 0..<layers {
      let p = "blk.\(l)."
      try norm(p + "attn_norm.weight")
      for (n, rows) in [("attn_q", heads * headDim), ("attn_k", kvHeads * headDim), ("attn_v", kvHeads * headDim)] {
        try w.addTensor(name: p + n + ".weight", dims: [dim, rows], floats: floats(dim * rows, scale: 0.2))
      }
      try w.addTensor(name: p + "attn_output.weight", dims: [heads * headDim, dim], floats: floats(dim * heads * headDim, scale: 0.2))
      try norm(p + "ffn_norm.weight")
      try w.addTensor(name: p + "ffn_gate.weight", dims: [dim, ffn], floats: floats(dim * ffn, scale: 0.2))
      try w.addTensor(name: p + "ffn_up.weight", dims: [dim, ffn], floats: floats(dim * ffn, scale: 0.2))
      try w.addTensor(name: p + "ffn_down.weight", dims: [ffn, dim], floats: floats(dim * ffn, scale: 0.1))
    }
    try norm("output_norm.weight")
    if !tied { try w.addTensor(name: "output.weight", dims: [dim, vocab.count], floats: floats(dim * vocab.count, scale: 0.5)) }
    try w.write(to: path)
  }
}

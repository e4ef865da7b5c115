import Foundation
import GGUF
import Testing

/// A throwaway directory under the system temp dir, removed by `cleanup()`.
struct TempDir {
  let path: String

  init() {
    path = (NSTemporaryDirectory() as NSString).appendingPathComponent("hearth-registry-\(UUID().uuidString)")
    try! FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  }

  func file(_ name: String) -> String { (path as NSString).appendingPathComponent(name) }
  func cleanup() { try? FileManager.default.removeItem(atPath: path) }

  /// Every regular file below `sub`, relative to it, sorted.
  func files(under sub: String) -> [String] {
    let root = file(sub)
    guard let e = FileManager.default.enumerator(atPath: root) else { return [] }
    return e.compactMap { $0 as? String }.filter {
      var dir: ObjCBool = false
      return FileManager.default.fileExists(atPath: (root as NSString).appendingPathComponent($0), isDirectory: &dir) && !dir.boolValue
    }.sorted()
  }
}

/// A tiny but complete llama GGUF (byte-level BPE tokenizer, chat template, license) that binds
/// and tokenizes like a real model: what the registry's validation needs, in a few KB.
/// `seed` changes the weights, so two seeds give two different digests.
func writeTinyModel(to path: String, seed: UInt64 = 1, drop: String? = nil, metadata: [(String, GGUFValue)] = []) throws {
  let vocab = ["a", "b", "ab", "Ġ", "Ġab", "<|endoftext|>", "c", "d"]
  let dim = 32, ffn = 64, heads = 2, kvHeads = 1, headDim = 16, layers = 1
  var w = GGUFWriter()
  let kv: [(String, GGUFValue)] = [
    ("general.architecture", .string("llama")), ("general.name", .string("tiny")), ("general.license", .string("apache-2.0")),
    ("llama.block_count", .uint32(UInt32(layers))), ("llama.context_length", .uint32(128)),
    ("llama.embedding_length", .uint32(UInt32(dim))), ("llama.feed_forward_length", .uint32(UInt32(ffn))),
    ("llama.attention.head_count", .uint32(UInt32(heads))), ("llama.attention.head_count_kv", .uint32(UInt32(kvHeads))),
    ("llama.attention.layer_norm_rms_epsilon", .float32(1e-5)),
    ("tokenizer.ggml.model", .string("gpt2")), ("tokenizer.ggml.pre", .string("gpt-2")),
    ("tokenizer.ggml.tokens", .array(.string(vocab))), ("tokenizer.ggml.token_type", .array(.int32([1, 1, 1, 1, 1, 3, 1, 1]))),
    ("tokenizer.ggml.merges", .array(.string(["a b", "Ġ ab"]))), ("tokenizer.ggml.eos_token_id", .uint32(5)),
    ("tokenizer.chat_template", .string("{% for m in messages %}{{ m['content'] }}{% endfor %}")),
  ]
  for (k, v) in kv + metadata { w.set(k, v) }
  var state = seed &* 0x9E37_79B9_7F4A_7C15
  func floats(_ n: Int) -> [Float] {
    (0..<n).map { _ in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Float(Int64(bitPattern: state >> 11) % 2000) / 20000
    }
  }
  var tensors: [(String, [Int])] = [("token_embd.weight", [dim, vocab.count]), ("output_norm.weight", [dim])]
  for l in 0..<layers {
    let p = "blk.\(l)."
    tensors += [
      (p + "attn_norm.weight", [dim]), (p + "attn_q.weight", [dim, heads * headDim]), (p + "attn_k.weight", [dim, kvHeads * headDim]),
      (p + "attn_v.weight", [dim, kvHeads * headDim]), (p + "attn_output.weight", [heads * headDim, dim]),
      (p + "ffn_norm.weight", [dim]), (p + "ffn_gate.weight", [dim, ffn]), (p + "ffn_up.weight", [dim, ffn]),
      (p + "ffn_down.weight", [ffn, dim]),
    ]
  }
  for (name, dims) in tensors where name != drop { try w.addTensor(name: name, dims: dims, floats: floats(dims.reduce(1, *))) }
  try w.write(to: path)
}

/// Flips one bit of the byte at `offset` in place, as disk corruption or tampering would.
func flipByte(_ path: String, at offset: Int) throws {
  // Stored blobs are read-only; tampering starts by undoing that.
  try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
  let h = try FileHandle(forUpdating: URL(fileURLWithPath: path))
  defer { try? h.close() }
  try h.seek(toOffset: UInt64(offset))
  let b = try h.read(upToCount: 1)![0]
  try h.seek(toOffset: UInt64(offset))
  try h.write(contentsOf: Data([b ^ 0x01]))
}

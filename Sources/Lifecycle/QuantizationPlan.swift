import GGUF
import Kernels

/// What happens to one tensor in a quantization.
public struct TensorPlan: Sendable, Equatable {
  public let name: String
  public let dims: [Int]
  public let from: GGMLType
  public let to: GGMLType
  /// Why the type differs from the requested one (output rule, fallback), or nil.
  public let note: String?

  /// Bytes after conversion.
  public var outputBytes: Int { to.rowBytes(dims[0])! * (dims.reduce(1, *) / dims[0]) }
}

/// Chooses each tensor's type the way llama-quantize does for the same target, so a Hearth-made
/// file matches what people get from llama.cpp:
/// - only tensors of 2 or more dimensions whose names end in `weight` are quantized, never norms,
///   MoE routers, position or token-type embeddings; 1-D tensors are stored as F32;
/// - the output projection (or the token embedding when it doubles as the output) gets Q6_K,
///   unless the target is Q8_0 or the row length is not a whole number of blocks (then Q8_0);
/// - Q4_K and Q5_K are what llama-quantize means by those names, its Q4_K_M and Q5_K_M mixes:
///   attn_v and ffn_down of the layers `useMoreBits` picks (the first and last eighth, and every
///   third between) get Q6_K, a fused attn_qkv gets one step more (Q5_K, Q6_K). llama.cpp counts
///   the attn_v / ffn_down tensors seen so far in its layer-sorted order, which is the layer
///   index; this reads the layer from the name;
/// - a row length that is not a multiple of the chosen type's block falls back as llama.cpp
///   does (Q4_K to Q5_0, Q5_K to Q5_1, Q6_K to Q8_0), and to F16 when even that does not fit.
/// `keepOutputF16` stores the output projection and token embedding as F16 instead.
public enum QuantizationPlan {
  public static let targets: [GGMLType] = [.q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

  /// llama.cpp's `general.file_type` (llama_ftype) for each target.
  public static func fileType(_ target: GGMLType) -> UInt32 {
    switch target {
    case .q4_0: return 2
    case .q4_1: return 3
    case .q8_0: return 7
    case .q5_0: return 8
    case .q5_1: return 9
    case .q4_K: return 15  // Q4_K_M
    case .q5_K: return 17  // Q5_K_M
    case .q6_K: return 18
    default: return 0
    }
  }

  public static func plan(_ file: GGUFFile, target: GGMLType, keepOutputF16: Bool = false) throws(LifecycleError) -> [TensorPlan] {
    guard targets.contains(target) else { throw .unsupportedTarget(target.name) }
    let layers = file.architecture.flatMap { file.int("\($0).block_count") } ?? 0
    let tied = file.tensor(named: "output.weight") == nil
    var out: [TensorPlan] = []
    for t in file.tensors {
      let (to, note) = choose(t, target: target, keepOutputF16: keepOutputF16, tied: tied, layers: layers)
      if to != t.type, TypeTraits.of(t.type) == nil { throw .unsupportedSourceType(tensor: t.name, type: t.type.name) }
      out.append(TensorPlan(name: t.name, dims: t.dims, from: t.type, to: to, note: note))
    }
    return out
  }

  static func choose(_ t: GGUFTensorInfo, target: GGMLType, keepOutputF16: Bool, tied: Bool, layers: Int) -> (GGMLType, String?) {
    // ggml counts dimensions without trailing 1s: a [576, 1] tensor is a vector.
    var dims = t.dims
    while dims.count > 1, dims.last == 1 { dims.removeLast() }
    let isFloat = [.f32, .f16, .bf16].contains(t.type)
    if dims.count < 2 { return (isFloat ? .f32 : t.type, nil) }
    guard allowsQuantization(t.name) else { return (t.type, nil) }

    let cols = t.dims[0]
    let isOutput = t.name == "output.weight"
    let isEmbedding = t.name == "token_embd.weight" || t.name == "per_layer_token_embd.weight"
    if keepOutputF16 && (isOutput || isEmbedding) { return (.f16, "kept F16 (--keep-output-f16)") }

    var type = target
    var note: String? = nil
    if isOutput || (tied && isEmbedding) {
      if cols % target.blockSize != 0 {
        type = .q8_0
        note = "output: row \(cols) not a multiple of \(target.blockSize)"
      } else if target != .q8_0 {
        type = .q6_K
        note = "output: Q6_K as llama-quantize"
      }
    } else if target == .q4_K || target == .q5_K {
      let mix = target == .q4_K ? "Q4_K_M" : "Q5_K_M"
      if t.name.contains("attn_qkv.weight") {
        type = target == .q4_K ? .q5_K : .q6_K
        note = "\(mix) mix: fused attn_qkv"
      } else if let layer = layerIndex(t.name), layers > 0,
        t.name.contains("attn_v.weight") || t.name.contains("ffn_down"), useMoreBits(layer, layers)
      {
        type = .q6_K
        // No layer number in the note, so the CLI groups the tensors into one line.
        note = "\(mix) mix: more bits for \(t.name.contains("ffn_down") ? "ffn_down" : "attn_v") in use_more_bits layers"
      }
    }
    return fallback(type, cols: cols, note: note)
  }

  /// llama.cpp's tensor_type_fallback: a smaller-block type when rows don't divide into blocks.
  static func fallback(_ type: GGMLType, cols: Int, note: String?) -> (GGMLType, String?) {
    if cols % type.blockSize == 0 { return (type, note) }
    let smaller: GGMLType
    switch type {
    case .q4_K: smaller = .q5_0
    case .q5_K: smaller = .q5_1
    case .q6_K: smaller = .q8_0
    default: smaller = type
    }
    if cols % smaller.blockSize == 0 {
      return (smaller, "fallback: row \(cols) not a multiple of \(type.name)'s \(type.blockSize)")
    }
    return (.f16, "fallback: row \(cols) not a multiple of 32")
  }

  /// llama-quantize's `tensor_allows_quantization` name rules.
  static func allowsQuantization(_ name: String) -> Bool {
    guard name.hasSuffix("weight"), !name.contains("_norm.weight") else { return false }
    let keep = [
      "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj", "ssm_conv1d",
      "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
    ]
    if keep.contains(where: { name.contains($0) }) { return false }
    return name != "position_embd.weight" && name != "token_types.weight"
  }

  /// llama.cpp's `use_more_bits`: the first and last eighth of the layers, and every third layer
  /// in between, get more bits in the _M mixes.
  static func useMoreBits(_ layer: Int, _ layers: Int) -> Bool {
    layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2
  }

  /// N in `blk.N.…`, or nil for tensors outside the blocks.
  static func layerIndex(_ name: String) -> Int? {
    guard name.hasPrefix("blk.") else { return nil }
    let rest = name.dropFirst(4)
    guard let dot = rest.firstIndex(of: ".") else { return nil }
    return Int(rest[..<dot])
  }
}

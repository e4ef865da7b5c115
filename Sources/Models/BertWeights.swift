import GGUF
import Kernels

/// llama.cpp's GGUF names for the tensors of a Hugging Face BERT, as its converter maps them.
/// Both the safetensors loader and `hearth convert` use this one table.
public enum BertNames {
  /// The GGUF name of Hugging Face tensor `hf`; nil for tensors an encoder does not use
  /// (`position_ids`, the pooler, masked-LM and next-sentence heads). A name outside the table
  /// throws: an unknown tensor means an architecture variant this engine would compute wrongly.
  public static func gguf(hf: String) throws(BertError) -> String? {
    var n = hf.hasPrefix("bert.") ? String(hf.dropFirst(5)) : hf
    if n.hasSuffix(".gamma") { n = String(n.dropLast(6)) + ".weight" }
    if n.hasSuffix(".beta") { n = String(n.dropLast(5)) + ".bias" }
    if n == "embeddings.position_ids" || n.hasPrefix("pooler.") || n.hasPrefix("cls.") { return nil }
    let parts = n.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
    guard let suffix = parts.last, suffix == "weight" || suffix == "bias" else { throw .unexpectedTensor(hf) }
    let stem = parts.dropLast().joined(separator: ".")
    if let g = embeddings[stem] { return g + "." + suffix }
    // encoder.layer.N.<module>
    guard parts.count >= 4, parts[0] == "encoder", parts[1] == "layer", let layer = Int(parts[2]), layer >= 0,
      String(layer) == parts[2], let g = blocks[parts[3..<(parts.count - 1)].joined(separator: ".")]
    else { throw .unexpectedTensor(hf) }
    return "blk.\(layer).\(g).\(suffix)"
  }

  static let embeddings = [
    "embeddings.word_embeddings": "token_embd",
    "embeddings.position_embeddings": "position_embd",
    "embeddings.token_type_embeddings": "token_types",
    "embeddings.LayerNorm": "token_embd_norm",
  ]

  static let blocks = [
    "attention.self.query": "attn_q",
    "attention.self.key": "attn_k",
    "attention.self.value": "attn_v",
    "attention.output.dense": "attn_output",
    "attention.output.LayerNorm": "attn_output_norm",
    "intermediate.dense": "ffn_up",
    "output.dense": "ffn_down",
    "output.LayerNorm": "layer_output_norm",
  ]
}

/// A BERT's tensors by GGUF name, wherever they came from: the mapped bytes, their ggml type and
/// ggml-order dims (`dims[0]` is the row length). `owner` keeps the mapping alive.
struct BertTensorSource {
  struct Tensor {
    let type: GGMLType
    let data: UnsafeRawPointer
    let dims: [Int]
    /// The name in the file, for error messages.
    let origin: String
  }

  let tensors: [String: Tensor]
  let owner: AnyObject

  init(gguf f: GGUFFile) {
    var t: [String: Tensor] = [:]
    for info in f.tensors {
      t[info.name] = Tensor(type: info.type, data: f.data(for: info).baseAddress!, dims: info.dims, origin: info.name)
    }
    tensors = t
    owner = f
  }

  /// Maps a Hugging Face checkpoint's names; float dtypes only (F32, F16, BF16).
  init(safetensors f: SafeTensorsFile) throws(BertError) {
    var t: [String: Tensor] = [:]
    for info in f.tensors {
      guard let name = try BertNames.gguf(hf: info.name) else { continue }
      let type: GGMLType
      do { type = try f.requireFloat(info) } catch { throw .safetensors(error) }
      guard !info.shape.isEmpty, info.elementCount > 0, let base = f.data(for: info).baseAddress else {
        throw .tensorShape(tensor: info.name, expected: [], found: info.shape)
      }
      guard t[name] == nil else { throw .unexpectedTensor(info.name) }
      t[name] = Tensor(type: type, data: base, dims: info.shape.reversed(), origin: info.name)
    }
    tensors = t
    owner = f
  }
}

/// Binds a source's tensors to the encoder's weights, checking each shape and type, and that no
/// tensor is left over. Weights whose bytes are misaligned for their type (safetensors does not
/// align its data) are copied once; F16/BF16 vectors are converted to F32 once.
final class BertBinder {
  let source: BertTensorSource
  private var used = Set<String>()
  private var owned: [UnsafeMutableRawPointer] = []

  init(source: BertTensorSource) { self.source = source }

  deinit { for p in owned { p.deallocate() } }

  private func take(_ name: String, dims: [Int]) throws(BertError) -> BertTensorSource.Tensor {
    guard let t = source.tensors[name] else { throw .missingTensor(name) }
    guard t.dims == dims else { throw .tensorShape(tensor: t.origin, expected: dims.reversed(), found: t.dims.reversed()) }
    guard let traits = TypeTraits.of(t.type), !traits.activationOnly, dims[0] % traits.blockSize == 0 else {
      throw .unsupportedTensorType(tensor: t.origin, type: t.type.name)
    }
    used.insert(name)
    return t
  }

  /// A matrix of `rows` output features by `cols` inputs (GGUF dims `[cols, rows]`).
  func matrix(_ name: String, rows: Int, cols: Int) throws(BertError) -> WeightMatrix {
    let t = try take(name, dims: [cols, rows])
    var data = t.data
    let align = t.type == .f32 ? 4 : 2
    if Int(bitPattern: data) % align != 0 {
      let bytes = TypeTraits.of(t.type)!.rowBytes(cols) * rows
      let copy = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
      copy.copyMemory(from: data, byteCount: bytes)
      owned.append(copy)
      data = UnsafeRawPointer(copy)
    }
    return WeightMatrix(type: t.type, data: data, rows: rows, cols: cols)
  }

  /// A vector of `n` floats: aligned F32 in place, anything else converted once.
  func vector(_ name: String, n: Int) throws(BertError) -> UnsafePointer<Float> {
    let t = try take(name, dims: [n])
    if t.type == .f32, Int(bitPattern: t.data) % 4 == 0 { return t.data.assumingMemoryBound(to: Float.self) }
    let bytes = TypeTraits.of(t.type)!.rowBytes(n)
    let raw = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    raw.copyMemory(from: t.data, byteCount: bytes)
    let out = UnsafeMutableRawPointer.allocate(byteCount: n * 4, alignment: 64)
    Dequant.row(t.type, UnsafeRawPointer(raw), out.assumingMemoryBound(to: Float.self), count: n)
    raw.deallocate()
    owned.append(out)
    return UnsafePointer(out.assumingMemoryBound(to: Float.self))
  }

  /// Every tensor in the source must have been bound.
  func checkAllUsed() throws(BertError) {
    if let extra = source.tensors.keys.sorted().first(where: { !used.contains($0) }) {
      throw .unexpectedTensor(source.tensors[extra]!.origin)
    }
  }
}

import GGUF
import Kernels

/// Binds named GGUF tensors to weights, checking each one's type and shape against the
/// architecture's expectation before the forward pass ever touches it.
final class TensorBinder {
  let file: GGUFFile
  /// Small vectors converted to F32 (norms, biases stored as F16/BF16); owned for the model's lifetime.
  private(set) var owned: [UnsafeMutableBufferPointer<Float>] = []

  static let computeTypes: Set<GGMLType> = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]

  init(file: GGUFFile) { self.file = file }

  deinit { for b in owned { b.deallocate() } }

  func has(_ name: String) -> Bool { file.tensor(named: name) != nil }

  /// A matrix of `rows` output features by `cols` inputs (GGUF dims `[cols, rows]`).
  func matrix(_ name: String, cols: Int, rows: Int) throws(ModelError) -> WeightMatrix {
    let t: GGUFTensorInfo
    do { t = try file.requireTensor(name) } catch { throw .gguf(error) }
    guard t.dims == [cols, rows] else { throw .gguf(.tensorShape(tensor: name, expected: [cols, rows], found: t.dims)) }
    guard Self.computeTypes.contains(t.type) else { throw .unsupportedTensorType(tensor: name, type: t.type.name) }
    return WeightMatrix(type: t.type, data: file.data(for: t).baseAddress!, rows: rows, cols: cols)
  }

  func optionalMatrix(_ name: String, cols: Int, rows: Int) throws(ModelError) -> WeightMatrix? {
    has(name) ? try matrix(name, cols: cols, rows: rows) : nil
  }

  /// A vector of `n` floats; F32 tensors are used in place, others are converted once.
  func vector(_ name: String, n: Int) throws(ModelError) -> UnsafePointer<Float> {
    let t: GGUFTensorInfo
    do { t = try file.requireTensor(name) } catch { throw .gguf(error) }
    guard t.elementCount == n, t.dims[0] == n else { throw .gguf(.tensorShape(tensor: name, expected: [n], found: t.dims)) }
    let bytes = file.data(for: t)
    if t.type == .f32 { return bytes.baseAddress!.assumingMemoryBound(to: Float.self) }
    guard Self.computeTypes.contains(t.type) else { throw .unsupportedTensorType(tensor: name, type: t.type.name) }
    let buf = UnsafeMutableBufferPointer<Float>.allocate(capacity: n)
    Dequant.row(t.type, bytes.baseAddress!, buf.baseAddress!, count: n)
    owned.append(buf)
    return UnsafePointer(buf.baseAddress!)
  }

  func optionalVector(_ name: String, n: Int) throws(ModelError) -> UnsafePointer<Float>? {
    has(name) ? try vector(name, n: n) : nil
  }
}

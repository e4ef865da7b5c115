import GGUF

/// What Kernels knows about one storage type: block geometry and which activation format its
/// fast dot product takes (ggml's `vec_dot_type`).
public struct TypeTraits: Sendable {
  public let type: GGMLType
  /// Elements per block (1 for F32/F16/BF16).
  public let blockSize: Int
  /// Bytes per block.
  public let blockBytes: Int
  /// The format activations are quantized to for the fast dot: `.q8_0`, `.q8_1`, `.q8_K`, or
  /// `.f32` for the float weight types.
  public let activation: GGMLType
  /// True for the formats used only for activations (Q8_1, Q8_K): they can be quantized and
  /// dequantized but are not expected as weights.
  public let activationOnly: Bool

  public func rowBytes(_ n: Int) -> Int { (n / blockSize) * blockBytes }

  /// Traits for a supported type, or nil (IQ formats, Q2_K/Q3_K and the integer types are not
  /// supported).
  public static func of(_ type: GGMLType) -> TypeTraits? {
    let i = Int(type.rawValue)
    return i < table.count ? table[i] : nil
  }

  /// Every storage type Kernels reads and writes.
  public static let storageTypes: [GGMLType] = [.f32, .f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1, .q4_K, .q5_K, .q6_K]
  /// The activation formats.
  public static let activationTypes: [GGMLType] = [.q8_0, .q8_1, .q8_K]

  // Indexed by raw type number so a lookup is an array load, not a dictionary probe.
  private static let table: [TypeTraits?] = {
    let entries: [TypeTraits] = [
      .init(type: .f32, blockSize: 1, blockBytes: 4, activation: .f32, activationOnly: false),
      .init(type: .f16, blockSize: 1, blockBytes: 2, activation: .f32, activationOnly: false),
      .init(type: .bf16, blockSize: 1, blockBytes: 2, activation: .f32, activationOnly: false),
      .init(type: .q4_0, blockSize: 32, blockBytes: 18, activation: .q8_0, activationOnly: false),
      .init(type: .q4_1, blockSize: 32, blockBytes: 20, activation: .q8_1, activationOnly: false),
      .init(type: .q5_0, blockSize: 32, blockBytes: 22, activation: .q8_0, activationOnly: false),
      .init(type: .q5_1, blockSize: 32, blockBytes: 24, activation: .q8_1, activationOnly: false),
      .init(type: .q8_0, blockSize: 32, blockBytes: 34, activation: .q8_0, activationOnly: false),
      .init(type: .q8_1, blockSize: 32, blockBytes: 36, activation: .q8_1, activationOnly: true),
      .init(type: .q4_K, blockSize: 256, blockBytes: 144, activation: .q8_K, activationOnly: false),
      .init(type: .q5_K, blockSize: 256, blockBytes: 176, activation: .q8_K, activationOnly: false),
      .init(type: .q6_K, blockSize: 256, blockBytes: 210, activation: .q8_K, activationOnly: false),
      .init(type: .q8_K, blockSize: 256, blockBytes: 292, activation: .q8_K, activationOnly: true),
    ]
    var t = [TypeTraits?](repeating: nil, count: 40)
    for e in entries {
      precondition(e.blockSize == e.type.blockSize && e.blockBytes == e.type.typeSize, "traits disagree with GGUF for \(e.type)")
      t[Int(e.type.rawValue)] = e
    }
    return t
  }()
}

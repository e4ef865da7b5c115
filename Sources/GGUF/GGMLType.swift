/// Tensor element types, numbered as ggml numbers them in GGUF files.
///
/// The reader needs each type's block geometry to check tensor byte sizes, so the table lives
/// here; dequantization and kernels live in `Kernels`.
public enum GGMLType: UInt32, Sendable, CaseIterable {
  case f32 = 0
  case f16 = 1
  case q4_0 = 2
  case q4_1 = 3
  case q5_0 = 6
  case q5_1 = 7
  case q8_0 = 8
  case q8_1 = 9
  case q2_K = 10
  case q3_K = 11
  case q4_K = 12
  case q5_K = 13
  case q6_K = 14
  case q8_K = 15
  case iq2_xxs = 16
  case iq2_xs = 17
  case iq3_xxs = 18
  case iq1_s = 19
  case iq4_nl = 20
  case iq3_s = 21
  case iq2_s = 22
  case iq4_xs = 23
  case i8 = 24
  case i16 = 25
  case i32 = 26
  case i64 = 27
  case f64 = 28
  case iq1_m = 29
  case bf16 = 30
  case tq1_0 = 34
  case tq2_0 = 35
  case mxfp4 = 39

  /// Elements per block (1 for plain scalar types).
  public var blockSize: Int { geometry.block }
  /// Bytes per block.
  public var typeSize: Int { geometry.bytes }

  /// The name ggml prints, e.g. `Q4_K`, `F16`, `IQ4_NL`.
  public var name: String { String(describing: self).uppercased() }

  /// Parses a type name such as `Q4_K`, `q8_0` or `F16` (case-insensitive).
  public init?(name: String) {
    let wanted = name.uppercased()
    guard let t = GGMLType.allCases.first(where: { $0.name == wanted }) else { return nil }
    self = t
  }

  /// Bytes needed for one row of `n` elements, or nil when `n` is not a whole number of blocks.
  public func rowBytes(_ n: Int) -> Int? {
    guard n % blockSize == 0 else { return nil }
    return (n / blockSize) * typeSize
  }

  // (elements per block, bytes per block), as ggml's type traits give them. A switch, not a
  // dictionary: row addressing in the kernels' hot loops reads it.
  private var geometry: (block: Int, bytes: Int) {
    switch self {
    case .f32: (1, 4)
    case .f16, .bf16: (1, 2)
    case .f64: (1, 8)
    case .i8: (1, 1)
    case .i16: (1, 2)
    case .i32: (1, 4)
    case .i64: (1, 8)
    case .q4_0: (32, 18)
    case .q4_1: (32, 20)
    case .q5_0: (32, 22)
    case .q5_1: (32, 24)
    case .q8_0: (32, 34)
    case .q8_1: (32, 36)
    case .q2_K: (256, 84)
    case .q3_K: (256, 110)
    case .q4_K: (256, 144)
    case .q5_K: (256, 176)
    case .q6_K: (256, 210)
    case .q8_K: (256, 292)
    case .iq2_xxs: (256, 66)
    case .iq2_xs: (256, 74)
    case .iq3_xxs: (256, 98)
    case .iq1_s: (256, 50)
    case .iq4_nl: (32, 18)
    case .iq3_s: (256, 110)
    case .iq2_s: (256, 82)
    case .iq4_xs: (256, 136)
    case .iq1_m: (256, 56)
    case .tq1_0: (256, 54)
    case .tq2_0: (256, 66)
    case .mxfp4: (32, 17)
    }
  }
}

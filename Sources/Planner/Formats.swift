/// How weights are stored. Bytes per parameter include each format's block or group scales,
/// because that is what occupies memory and what a decode step reads.
public enum WeightFormat: String, Sendable, CaseIterable, Codable {
  case f16 = "F16"
  case bf16 = "BF16"
  case q8_0 = "Q8_0"
  case q4_K = "Q4_K"
  case int8 = "INT8"
  case int4 = "INT4"
  case fp8 = "FP8"

  /// Bytes per weight, scales included:
  /// - Q8_0: blocks of 32 int8 + one f16 scale = 34 bytes / 32 weights (ggml `block_q8_0`).
  /// - Q4_K: super-blocks of 256 weights in 144 bytes (ggml `block_q4_K`: 2 f16 + 12 scale bytes + 128 nibble bytes).
  /// - INT4 (GPTQ, group size 128): 4 bits per weight + per group an f16 scale and a packed 4-bit zero
  ///   point = 4 + 20/128 bits.
  /// - INT8 (W8A8) and FP8: one byte per weight; their per-channel or per-tensor scales are < 0.1 %.
  public var bytesPerParameter: Double {
    switch self {
    case .f16, .bf16: return 2
    case .q8_0: return 34.0 / 32.0
    case .q4_K: return 144.0 / 256.0
    case .int8, .fp8: return 1
    case .int4: return (4.0 + 20.0 / 128.0) / 8.0
    }
  }

  /// The arithmetic a prefill matmul runs in, which picks the peak it is measured against.
  /// GGUF quants run as int8 dot products (llama.cpp's MMQ kernels on GPUs, the Q8 activation path on
  /// CPUs); GPTQ INT4 dequantizes to f16 (Marlin-style kernels); FP8 needs FP8 hardware and falls back
  /// to f16 arithmetic without it (weight-only FP8, as on the A100).
  public var computePrecision: ComputePrecision {
    switch self {
    case .f16, .bf16, .int4: return .fp16
    case .q8_0, .q4_K, .int8: return .int8
    case .fp8: return .fp8
    }
  }

  /// Parses a name such as `q4_k`, `Q4_K_M` (the mix's main type), `int4`, `gptq` (case-insensitive).
  public init?(name: String) {
    let n = name.uppercased().replacingOccurrences(of: "-", with: "_")
    switch n {
    case "F16", "FP16": self = .f16
    case "BF16": self = .bf16
    case "Q8_0": self = .q8_0
    case "Q4_K", "Q4_K_M", "Q4_K_S": self = .q4_K
    case "INT8", "W8A8": self = .int8
    case "INT4", "GPTQ", "W4A16": self = .int4
    case "FP8", "F8", "E4M3": self = .fp8
    default: return nil
    }
  }
}

/// How the KV cache stores each key and value element.
public enum KVCacheType: String, Sendable, CaseIterable, Codable {
  case f16 = "F16"
  case q8_0 = "Q8_0"
  case fp8 = "FP8"

  /// Bytes per cached element; Q8_0 carries an f16 scale per 32 elements as for weights.
  public var bytesPerElement: Double {
    switch self {
    case .f16: return 2
    case .q8_0: return 34.0 / 32.0
    case .fp8: return 1
    }
  }

  public init?(name: String) {
    switch name.uppercased().replacingOccurrences(of: "-", with: "_") {
    case "F16", "FP16", "BF16": self = .f16
    case "Q8_0", "Q8": self = .q8_0
    case "FP8", "F8", "E4M3": self = .fp8
    default: return nil
    }
  }
}

/// The arithmetic a device runs prefill in; each maps to one peak in the hardware catalogue.
public enum ComputePrecision: String, Sendable, Codable {
  case fp16 = "FP16"
  case int8 = "INT8"
  case fp8 = "FP8"
}

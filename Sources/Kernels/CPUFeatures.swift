import CKernels

/// What this processor offers, as the kernels see it (CPUID, with XGETBV for OS support; on ARM,
/// NEON always and the dot-product extension from the kernel's HWCAP).
public struct CPUFeatures: Sendable, CustomStringConvertible {
  public let sse42, avx, avx2, fma, f16c, bmi2, avx512f, avx512bw, avx512vl, avx512vnni, avx512vbmi, avx512bitalg, avxvnni, neon,
    dotprod: Bool

  public static let current = CPUFeatures(bits: UInt32(hk_cpu_features()))

  init(bits f: UInt32) {
    func has(_ flag: Int) -> Bool { f & UInt32(flag) != 0 }
    sse42 = has(HK_FEAT_SSE42)
    avx = has(HK_FEAT_AVX)
    avx2 = has(HK_FEAT_AVX2)
    fma = has(HK_FEAT_FMA)
    f16c = has(HK_FEAT_F16C)
    bmi2 = has(HK_FEAT_BMI2)
    avx512f = has(HK_FEAT_AVX512F)
    avx512bw = has(HK_FEAT_AVX512BW)
    avx512vl = has(HK_FEAT_AVX512VL)
    avx512vnni = has(HK_FEAT_AVX512VNNI)
    avx512vbmi = has(HK_FEAT_AVX512VBMI)
    avx512bitalg = has(HK_FEAT_AVX512BITALG)
    avxvnni = has(HK_FEAT_AVXVNNI)
    neon = has(HK_FEAT_NEON)
    dotprod = has(HK_FEAT_DOTPROD)
  }

  /// e.g. "sse4.2 avx avx2 fma f16c bmi2".
  public var description: String {
    let names: [(Bool, String)] = [
      (sse42, "sse4.2"), (avx, "avx"), (avx2, "avx2"), (fma, "fma"), (f16c, "f16c"), (bmi2, "bmi2"),
      (avx512f, "avx512f"), (avx512bw, "avx512bw"), (avx512vl, "avx512vl"), (avx512vnni, "avx512vnni"),
      (avx512vbmi, "avx512vbmi"), (avx512bitalg, "avx512bitalg"), (avxvnni, "avxvnni"),
      (neon, "neon"), (dotprod, "dotprod"),
    ]
    let on = names.filter(\.0).map(\.1)
    return on.isEmpty ? "baseline" : on.joined(separator: " ")
  }
}

/// A set of kernel implementations. `scalar` is portable C and runs everywhere; `avx2` needs
/// AVX2 + FMA + F16C. Chosen at run time, overridable with `HEARTH_KERNELS=scalar|avx2|avx512vnni`.
public enum KernelLevel: Int, Sendable, CaseIterable, CustomStringConvertible {
  case scalar = 0
  case avx2 = 1
  /// AVX2 with the Q16 kernels' multiply-adds fused by AVX512-VNNI (`vpdpwssd` on 256 bits).
  case avx512vnni = 2

  public var description: String {
    switch self {
    case .scalar: "scalar"
    case .avx2: "avx2"
    case .avx512vnni: "avx512vnni"
    }
  }

  /// The levels this CPU can run, lowest first.
  public static let available: [KernelLevel] = allCases.filter { hk_kernels_for_level(Int32($0.rawValue)) != nil }

  /// The level used by default: the best available, or `HEARTH_KERNELS` when set to an available
  /// level (an unknown or unavailable name falls back to the best available).
  public static let preferred: KernelLevel = {
    let best = available.last ?? .scalar
    guard let raw = getenv("HEARTH_KERNELS").map({ String(cString: $0) }) else { return best }
    guard let wanted = allCases.first(where: { $0.description == raw.lowercased() }), available.contains(wanted) else {
      return best
    }
    return wanted
  }()

  /// The C kernel table for this level (the level must be available).
  var table: UnsafePointer<hk_kernels> {
    guard let t = hk_kernels_for_level(Int32(rawValue)) else { preconditionFailure("Kernels: level \(self) is not available on this CPU") }
    return t
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

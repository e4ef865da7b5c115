import Foundation
import GGUF
import Kernels
import Testing

/// Root of the package, found from this file's path.
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../..").standardized

/// The fixtures written by scripts/kernel-fixtures ($HEARTH_KERNEL_FIXTURES or .build-fixtures/kernels).
let fixtureDir = ProcessInfo.processInfo.environment["HEARTH_KERNEL_FIXTURES"]
  ?? packageRoot.appendingPathComponent(".build-fixtures/kernels").path

/// The real models fetched by scripts/fetch-models ($HEARTH_MODELS or models/).
func modelPath(_ name: String) -> String {
  (ProcessInfo.processInfo.environment["HEARTH_MODELS"] ?? packageRoot.appendingPathComponent("models").path) + "/" + name
}

let smolLM = "SmolLM2-135M-Instruct.Q4_1.gguf"
let gemma = "gemma-3-270m-q4_k_m.gguf"
let qwen = "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf"

/// Opens a real model, recording a failure (with the fix) when it is missing.
func openModel(_ name: String) -> GGUFFile? {
  let path = modelPath(name)
  guard FileManager.default.fileExists(atPath: path) else {
    Issue.record("missing \(path): run scripts/fetch-models")
    return nil
  }
  do { return try GGUFFile(path: path) } catch {
    Issue.record("cannot open \(path): \(error)")
    return nil
  }
}

/// A small deterministic generator (SplitMix64), so failures reproduce.
struct Rng {
  var state: UInt64
  init(_ seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
  mutating func uniform() -> Float { Float(next() >> 40) / Float(1 << 24) }
  /// Standard normal (Box-Muller).
  mutating func normal() -> Float {
    let u1 = max(uniform(), 1e-7), u2 = uniform()
    return (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
  }
  mutating func normals(_ n: Int, scale: Float = 1) -> [Float] { (0..<n).map { _ in normal() * scale } }
  mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}

/// Byte offsets of the fp16 scale fields in each block type's layout.
let halfFields: [GGMLType: [Int]] = [
  .q4_0: [0], .q4_1: [0, 2], .q5_0: [0], .q5_1: [0, 2], .q8_0: [0], .q4_K: [0, 2], .q5_K: [0, 2], .q6_K: [208],
]

/// Random blocks of a quantized type: random bytes, with every fp16 scale set to a modest value
/// so that products stay in a sane range.
func randomBlocks(_ type: GGMLType, blocks: Int, rng: inout Rng) -> [UInt8] {
  let size = type.typeSize
  var raw = rng.bytes(blocks * size)
  for b in 0..<blocks {
    for off in halfFields[type] ?? [] {
      let h = Half.fromFloat(0.0005 + rng.uniform() * 0.02)
      raw[b * size + off] = UInt8(h & 0xFF)
      raw[b * size + off + 1] = UInt8(h >> 8)
    }
  }
  return raw
}

/// A weight row of `n` elements: either quantized from Gaussian values or random blocks.
func weightRow(_ type: GGMLType, _ n: Int, random: Bool, rng: inout Rng) -> [UInt8] {
  if random && halfFields[type] != nil { return randomBlocks(type, blocks: n / type.blockSize, rng: &rng) }
  let x = rng.normals(n, scale: 0.1)
  return x.withUnsafeBufferPointer { Quantize.row(type, $0.baseAddress!, count: n) }
}

func dequantized(_ type: GGMLType, _ bytes: [UInt8], _ n: Int) -> [Float] {
  var out = [Float](repeating: 0, count: n)
  bytes.withUnsafeBytes { src in out.withUnsafeMutableBufferPointer { Dequant.row(type, src.baseAddress!, $0.baseAddress!, count: n) } }
  return out
}

/// The activation row for `type`'s kernels: f32 bytes for float weights, else quantized by the
/// reference.
func activationRow(for type: GGMLType, _ x: [Float]) -> [UInt8] {
  let act = TypeTraits.of(type)!.activation
  if act == .f32 { return x.withUnsafeBytes { Array($0) } }
  return x.withUnsafeBufferPointer { Quantize.row(act, $0.baseAddress!, count: x.count) }
}

/// The size against which a float-summed dot's rounding is judged: Σ|a_i|·(|w_i| + |o_i|), where
/// o_i is the block's offset term (the min of Q4_1/Q5_1/Q4_K/Q5_K), which the kernels add
/// separately and which can cancel against the main term.
func dotMagnitude(_ type: GGMLType, _ w: [UInt8], _ act: [UInt8], _ n: Int) -> Double {
  let wf = dequantized(type, w, n)
  let actType = TypeTraits.of(type)!.activation
  let af: [Float] = actType == .f32 ? act.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) } : dequantized(actType, act, n)
  var zeroed = w
  let size = type.typeSize
  for b in 0..<(n / type.blockSize) {
    let keep: Set<Int>
    switch type {
    case .q4_1, .q5_1, .q4_K, .q5_K: keep = Set(0..<(type == .q4_1 || type == .q5_1 ? 4 : 16))
    default: keep = Set(0..<size)  // no offset term
    }
    if keep.count == size { continue }
    for k in 0..<size where !keep.contains(k) { zeroed[b * size + k] = 0 }
  }
  let offsets = (type == .q4_1 || type == .q5_1 || type == .q4_K || type == .q5_K) ? dequantized(type, zeroed, n) : [Float](repeating: 0, count: n)
  var m = 0.0
  for i in 0..<n { m += Double(abs(af[i])) * (Double(abs(wf[i])) + Double(abs(offsets[i]))) }
  return m
}

func readFile(_ path: String) -> [UInt8]? {
  FileManager.default.contents(atPath: path).map { [UInt8]($0) }
}

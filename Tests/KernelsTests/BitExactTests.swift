import Foundation
import GGUF
import Kernels
import Testing

/// Dequantization and quantization agree bit for bit with gguf-py (fixtures from
/// scripts/kernel-fixtures).
@Suite struct BitExactTests {
  struct Fixture: CustomStringConvertible, Sendable {
    let kind: String, type: GGMLType, source: String
    let a: Int, b: Int  // dequant: blocks, 0; quant: rows, cols
    let files: [String]
    var description: String { "\(kind) \(type.name) \(source)" }
  }

  static func manifest() -> [Fixture]? {
    guard let text = try? String(contentsOfFile: fixtureDir + "/manifest.txt", encoding: .utf8) else { return nil }
    return text.split(separator: "\n").compactMap { line in
      let f = line.split(separator: " ").map(String.init)
      guard f.count >= 6, let t = GGMLType(name: f[1]) else { return nil }
      if f[0] == "dequant" { return Fixture(kind: "dequant", type: t, source: f[2], a: Int(f[3])!, b: 0, files: [f[4], f[5]]) }
      return Fixture(kind: "quant", type: t, source: f[2], a: Int(f[3])!, b: Int(f[4])!, files: [f[5], f[6]])
    }
  }

  static let missing = "kernel fixtures missing in \(fixtureDir): run scripts/kernel-fixtures"

  @Test func fixturesCoverEveryType() throws {
    guard let all = Self.manifest() else { Issue.record(Comment(rawValue: Self.missing)); return }
    for type in TypeTraits.storageTypes {
      #expect(all.contains { $0.kind == "dequant" && $0.type == type && $0.source == "random" }, "no random \(type.name) fixture")
    }
    // The types that occur in the three real models.
    for type: GGMLType in [.f32, .q8_0, .q4_1, .q5_0, .q4_K, .q6_K] {
      #expect(all.contains { $0.kind == "dequant" && $0.type == type && $0.source == "model" },
              "no real-model \(type.name) fixture: run scripts/fetch-models, then scripts/kernel-fixtures")
    }
    for type: GGMLType in [.f16, .bf16, .q8_0, .q4_0, .q4_1, .q5_0, .q5_1] {
      #expect(all.contains { $0.kind == "quant" && $0.type == type }, "no quantization fixture for \(type.name)")
    }
  }

  @Test(arguments: manifest() ?? [])
  func matchesGGUFPy(_ f: Fixture) throws {
    let path0 = fixtureDir + "/" + f.files[0], path1 = fixtureDir + "/" + f.files[1]
    guard let first = readFile(path0), let second = readFile(path1) else {
      Issue.record(Comment(rawValue: Self.missing)); return
    }
    if f.kind == "dequant" {
      let n = f.a * f.type.blockSize
      try #require(first.count == f.a * f.type.typeSize && second.count == 4 * n, "fixture sizes")
      let got = dequantized(f.type, first, n)
      let want = second.withUnsafeBytes { Array($0.bindMemory(to: UInt32.self)) }
      let bad = (0..<n).filter { got[$0].bitPattern != want[$0] }
      #expect(bad.isEmpty, "\(bad.count) of \(n) values differ; first at \(bad.first ?? 0): got \(String(got[bad.first ?? 0].bitPattern, radix: 16)) want \(String(want[bad.first ?? 0], radix: 16))")
    } else {
      let rows = f.a, cols = f.b
      let x = first.withUnsafeBytes { Array($0.bindMemory(to: Float.self)) }
      let rowBytes = TypeTraits.of(f.type)!.rowBytes(cols)
      try #require(x.count == rows * cols && second.count == rows * rowBytes, "fixture sizes")
      for r in 0..<rows {
        let got = x.withUnsafeBufferPointer { Quantize.row(f.type, $0.baseAddress! + r * cols, count: cols) }
        let want = Array(second[(r * rowBytes)..<((r + 1) * rowBytes)])
        if got != want {
          let at = zip(got, want).enumerated().first { $0.element.0 != $0.element.1 }!.offset
          Issue.record("row \(r): first differing byte \(at) (block \(at / f.type.typeSize)): got \(got[at]) want \(want[at])")
          return
        }
      }
    }
  }
}

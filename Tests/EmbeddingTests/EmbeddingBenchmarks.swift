import Foundation
import Testing

@testable import Engine

/// Embedding throughput. Prints, never asserts; runs only with HEARTH_BENCH=1 (release build):
///   HEARTH_BENCH=1 swift test -c release -Xswiftc -enable-testing --filter EmbeddingBenchmarks
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_BENCH"] == "1"), .serialized)
struct EmbeddingBenchmarks {
  static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  /// Median wall seconds of `repeats` runs after one warm-up (the machine is shared).
  static func median(_ repeats: Int, _ body: () throws -> Void) rethrows -> Double {
    try body()
    var times: [Double] = []
    for _ in 0..<repeats {
      let t0 = now()
      try body()
      times.append(now() - t0)
    }
    return times.sorted()[repeats / 2]
  }

  static let short = [
    "The cat sits on the mat.", "A cat is sitting on a mat.", "Stock markets fell sharply on Monday.",
    "The recipe calls for two cups of flour.", "The capital of France is", "Once upon a time, in a small village,",
    "Photosynthesis is the process by which", "In 1969, Neil Armstrong",
  ]

  func run(_ label: String, _ e: Embedder, texts: [String], repeats: Int = 5) throws {
    let tokens = e.tokenize(texts)
    let n = tokens.map(\.count).reduce(0, +)
    let t = try Self.median(repeats) { _ = try e.embed(tokens: tokens) }
    let perText = Double(texts.count) / t
    print(String(format: "%@: %d texts, %d tokens: %.1f ms, %.0f embeddings/s, %.0f tokens/s", label, texts.count, n, t * 1e3, perText, Double(n) / t))
  }

  @Test(arguments: [1, 2])
  func minilm(threads: Int) throws {
    guard Paths.require(Paths.minilm + "/model.safetensors") != nil else { return }
    let e = try Embedder(path: Paths.minilm, threads: threads)
    let batch = Array(repeating: Self.short, count: 8).flatMap { $0 }  // 64 short texts
    try run("minilm \(threads)t, one short text", e, texts: [Self.short[0]], repeats: 21)
    try run("minilm \(threads)t, batch of short texts", e, texts: batch)
    try run("minilm \(threads)t, 8 texts of 256 tokens", e, texts: Array(repeating: String(repeating: "hello world ", count: 200), count: 8), repeats: 3)
  }

  @Test func minilmGGUFq8() throws {
    let batch = Array(repeating: Self.short, count: 8).flatMap { $0 }
    try withConverted(.q8_0) { try run("minilm q8_0 2t, batch of short texts", try Embedder(path: $0, threads: 2), texts: batch) }
  }

  @Test func smollm2DecoderPooled() throws {
    guard let p = Paths.require(Paths.smollm2) else { return }
    try run("smollm2 decoder-pooled 2t, batch of short texts", try Embedder(path: p, threads: 2), texts: Self.short, repeats: 3)
  }
}

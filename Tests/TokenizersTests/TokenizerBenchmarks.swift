import Foundation
import GGUF
import Testing

@testable import Tokenizers

/// Prints load and throughput figures (no timing assertions; run with `-c release`).
@Suite struct TokenizerBenchmarks {
  static func seconds(_ f: () throws -> Void) rethrows -> Double {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try f()
    return Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
  }

  @Test(arguments: ReferenceTokenizationTests.models)
  func loadAndThroughput(_ model: String) throws {
    let file = try ModelCache.shared.file(model)
    // For scale: parsing the GGUF header (the GGUF module's work, vocabulary strings included).
    let parse = try Self.seconds { _ = try GGUFFile(path: Paths.models + "/" + Paths.ggufFiles[model]!) }
    var tok: (any Tokenizer)?
    // Median of 5 constructions from an already-parsed GGUFFile.
    var times: [Double] = []
    for _ in 0..<5 { times.append(try Self.seconds { tok = try Tokenizers.load(from: file) }) }
    times.sort()
    let t = try #require(tok)
    let text = try String(contentsOfFile: #filePath, encoding: .utf8) + String(repeating: "Le café coûte 3,50 € 🦙 中文分词。 ", count: 200)
    var ids: [Int] = []
    let cold = Self.seconds { ids = t.encode(text, addSpecial: false, parseSpecial: true) }
    // Best of 5: the machine is shared, and preemption only ever adds time.
    var warm = Double.infinity, dec = Double.infinity
    for _ in 0..<5 {
      warm = min(warm, Self.seconds { ids = t.encode(text, addSpecial: false, parseSpecial: true) })
      dec = min(dec, Self.seconds { _ = t.decode(ids) })
    }
    let mb = Double(text.utf8.count) / 1e6
    print(String(format: "[tokenizer] %@: load %.1f ms (median of 5, min %.1f; GGUF parse %.1f ms), encode %.2f MB/s cold, %.2f MB/s warm (best of 5, %d tokens), decode %.1f ms",
      model, times[2] * 1000, times[0] * 1000, parse * 1000, mb / cold, mb / warm, ids.count, dec * 1000))
    #expect(!ids.isEmpty)
  }
}

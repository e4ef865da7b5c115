import Foundation
import Testing
import Tokenizers

@testable import Engine

/// What the JSON constraint costs per generated token, on each real vocabulary (Gemma's has
/// 262,144 tokens). Prints, never asserts timings; runs only with HEARTH_BENCH=1 and means
/// something only in a release build:
///   HEARTH_BENCH=1 swift test -c release -Xswiftc -enable-testing --scratch-path .build-json --filter JSONConstraintBenchmarks
///
/// A valid document is replayed token by token. At each step the logits are noise with the
/// document's next token on top (a model that wants valid JSON), or, for "adversarial", with
/// 2,000 forbidden tokens above it (a model that wants to write prose). Each setting's sampler
/// runs on the same logits with and without the constraint; the difference is the overhead.
@Suite(.enabled(if: ProcessInfo.processInfo.environment["HEARTH_BENCH"] == "1"), .serialized)
struct JSONConstraintBenchmarks {
  static func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
  }

  struct Setting {
    var label: String
    var params: SamplingParams
    var adversarial = false
  }

  static let settings: [Setting] = {
    func p(_ t: Double, _ k: Int, _ topP: Double, _ minP: Double = 0) -> SamplingParams {
      var s = SamplingParams()
      s.temperature = t; s.topK = k; s.topP = topP; s.minP = minP; s.seed = 1
      return s
    }
    return [
      Setting(label: "greedy", params: p(0, 0, 1)),
      Setting(label: "greedy, adversarial", params: p(0, 0, 1), adversarial: true),
      Setting(label: "T=1 (OpenAI default)", params: p(1, 0, 1)),
      Setting(label: "T=0.8 top-k 40 top-p 0.95 min-p 0.05 (CLI default)", params: p(0.8, 40, 0.95, 0.05)),
      Setting(label: "T=0.8 top-k 40, adversarial", params: p(0.8, 40, 0.95, 0.05), adversarial: true),
      Setting(label: "T=1 top-p 0.9", params: p(1, 0, 0.9)),
    ]
  }()

  static func describe(_ ms: [Double]) -> String {
    let s = ms.sorted()
    return String(format: "median %7.3f ms  p90 %7.3f  max %7.3f", s[s.count / 2], s[s.count * 9 / 10], s.last!)
  }

  @Test(arguments: ["gemma3", "qwen2", "smollm2"])
  func perTokenOverhead(_ name: String) throws {
    guard let tok = try realTokenizer(name) else { return }
    let t0 = Self.now()
    let vocab = ConstraintVocabulary(tokenizer: tok)
    print(String(format: "[json-bench] %@: vocabulary %d tokens, trie %d nodes (%d not plain), built in %.0f ms",
                 name as NSString, vocab.size, vocab.all.nodeCount, vocab.nonPlain.nodeCount, (Self.now() - t0) * 1000))
    let cases: [(String, String, String)] = [
      ("person", personSchema, #"{"name": "Alice Johnson", "age": 34, "tags": ["engineer", "hiker", "amateur cook"]}"#),
      ("json_object", #"{"type":"object"}"#,
       #"{"city": "Zürich", "population": 421878, "area_km2": 87.88, "rivers": ["Limmat", "Sihl"], "capital": false, "mayor": {"name": "Corine Mauch", "since": 2009}}"#),
    ]
    for (label, schema, doc) in cases {
      let g = try JSONGrammar(schemaJSON: schema)
      let ids = tok.encode(doc, addSpecial: false, parseSpecial: false)
      for setting in Self.settings {
        var constrained = Sampler(params: setting.params, vocabSize: vocab.size)
        var free = Sampler(params: setting.params, vocabSize: vocab.size)
        let c = JSONConstraint(grammar: g, vocabulary: vocab)
        var rng = SeededGenerator(seed: 3)
        var base = [Float](repeating: 0, count: vocab.size)
        var work = base
        var mask = [UInt8](repeating: 0, count: vocab.size)
        var withC: [Double] = [], without: [Double] = [], masks: [Double] = []
        let budget = ids.count + 8
        for (step, id) in ids.enumerated() {
          for i in base.indices { base[i] = Float(rng.unit() * 6) }
          base[id] = 12
          if setting.adversarial {
            var placed = 0
            while placed < 2000 {
              let t = Int(rng.next() % UInt64(vocab.size))
              if !c.allows(t, remaining: budget - step - 1) { base[t] = 20; placed += 1 }
            }
          }
          let remaining = budget - step - 1
          // Best of three per step: the machine is shared, and the constraint's state does not
          // change until accept, so repeats measure the same work.
          var best = (c: Double.infinity, free: Double.infinity, mask: Double.infinity)
          for _ in 0..<3 {
            work = base
            var s = Self.now()
            let picked = work.withUnsafeMutableBufferPointer { constrained.sample($0, history: [], constraint: c, remaining: remaining) }
            best.c = min(best.c, (Self.now() - s) * 1000)
            #expect(picked >= 0 && c.allows(picked, remaining: remaining))
            work = base
            s = Self.now()
            _ = work.withUnsafeMutableBufferPointer { free.sample($0, history: [], remaining: remaining) }
            best.free = min(best.free, (Self.now() - s) * 1000)
            s = Self.now()
            _ = mask.withUnsafeMutableBufferPointer { c.fillMask($0, remaining: remaining) }
            best.mask = min(best.mask, (Self.now() - s) * 1000)
          }
          withC.append(best.c)
          without.append(best.free)
          masks.append(best.mask)
          // Follow the document, not the draw, so every setting sees the same states.
          #expect(c.allows(id, remaining: remaining), "document token \(step) refused")
          c.accept(id)
        }
        #expect(c.isComplete)
        let overhead = zip(withC, without).map { $0 - $1 }
        print("[json-bench] \(name) \(label), \(setting.label), \(ids.count) tokens")
        print("[json-bench]   constrained sample   \(Self.describe(withC))")
        print("[json-bench]   unconstrained sample \(Self.describe(without))")
        print("[json-bench]   overhead             \(Self.describe(overhead))")
        if setting.label == "greedy" { print("[json-bench]   fillMask alone       \(Self.describe(masks))") }
      }
    }
  }
}

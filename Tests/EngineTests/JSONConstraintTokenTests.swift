import Foundation
import Testing
import Tokenizers

@testable import Engine

/// The constraint over a real vocabulary (SmolLM2's byte-level BPE, 49k tokens): random walks
/// through the allowed tokens must always end in valid JSON within the budget, the fast mask
/// must agree with `allows` token by token, and the sampler's lazy paths must pick what full
/// masking would.
@Suite(.serialized) struct JSONConstraintTokenTests {
  static let schemas: [(name: String, schema: String)] = [("object", #"{"type":"object"}"#), ("person", personSchema), ("rich", richSchema)]

  func setup(_ schema: String) throws -> (any Tokenizer, JSONGrammar, ConstraintFactory, SchemaChecker)? {
    guard let tok = try realTokenizer("smollm2") else { return nil }
    let g = try JSONGrammar(schemaJSON: schema)
    return (tok, g, try JSONConstraint.factory(grammar: g, tokenizer: tok), try SchemaChecker(schema))
  }

  @Test(arguments: schemas)
  func randomTokenWalksEndInValidJSON(_ name: String, _ schema: String) throws {
    guard let (tok, g, factory, checker) = try setup(schema) else { return }
    let vocab = ConstraintVocabulary.shared(for: tok)
    var mask = [UInt8](repeating: 0, count: vocab.size)
    let isShort = (0..<vocab.size).map { tok.tokenBytes($0).count <= 2 }
    var lengths: [Int] = []
    for seed in 0..<40 {
      for budget in [g.minimumTokens, g.minimumTokens + 2, 30, 120] where budget >= g.minimumTokens {
        var rng = SeededGenerator(seed: UInt64(seed * 1000 + budget))
        let c = factory() as! JSONConstraint
        var ids: [Int] = []
        while !c.isComplete && ids.count < budget {
          let remaining = budget - ids.count - 1
          let n = mask.withUnsafeMutableBufferPointer { c.fillMask($0, remaining: remaining) }
          guard n > 0 else { Issue.record("\(name) seed \(seed) budget \(budget): nothing allowed after \(ids.count) tokens"); break }
          let allowed = mask.indices.filter { mask[$0] != 0 }
          // Short tokens half of the time, so that structure (not just long string text) varies.
          let short = allowed.filter { isShort[$0] }
          let pool = !short.isEmpty && rng.next() % 2 == 0 ? short : allowed
          let t = pool[Int(rng.next() % UInt64(pool.count))]
          #expect(c.allows(t, remaining: remaining))
          c.accept(t)
          ids.append(t)
        }
        let bytes = ids.flatMap { tok.tokenBytes($0) }
        let text = String(decoding: bytes, as: UTF8.self)
        #expect(c.isComplete, "\(name) seed \(seed) budget \(budget): incomplete \(text)")
        guard let v = parseJSON(bytes) else { Issue.record("\(name): not JSON: \(text)"); continue }
        #expect(checker.errors(v).isEmpty, "\(name): \(checker.errors(v)) in \(text)")
        lengths.append(ids.count)
      }
    }
    print("[json] \(name): \(lengths.count) random walks, \(lengths.reduce(0, +)) tokens, longest \(lengths.max() ?? 0)")
  }

  /// fillMask's shortcuts (plain-text classes, the trie walk) against asking `allows` for every
  /// token, in the states a random walk passes through.
  @Test(arguments: schemas)
  func maskAgreesWithAllows(_ name: String, _ schema: String) throws {
    guard let (tok, g, factory, _) = try setup(schema) else { return }
    let vocab = ConstraintVocabulary.shared(for: tok)
    var mask = [UInt8](repeating: 0, count: vocab.size)
    var rng = SeededGenerator(seed: 7)
    var states = 0
    for walk in 0..<6 {
      let c = factory() as! JSONConstraint
      let budget = g.minimumTokens + 40
      var step = 0
      while !c.isComplete && step < budget {
        let remaining = budget - step - 1
        _ = mask.withUnsafeMutableBufferPointer { c.fillMask($0, remaining: remaining) }
        if step % 3 == 0 {
          states += 1
          for id in 0..<vocab.size where (mask[id] != 0) != c.allows(id, remaining: remaining) {
            Issue.record("\(name) walk \(walk) step \(step): token \(id) \(Array(tok.tokenBytes(id))) mask \(mask[id]) vs allows")
            break
          }
        }
        let allowed = mask.indices.filter { mask[$0] != 0 }
        guard !allowed.isEmpty else { Issue.record("nothing allowed"); break }
        let t = allowed[Int(rng.next() % UInt64(allowed.count))]
        c.accept(t)
        step += 1
      }
    }
    #expect(states > 20)
  }

  /// The sampler under every kind of setting it has a path for: greedy and top-k test candidates
  /// lazily, top-p and plain temperature mask everything. Logits are random.
  @Test(arguments: [0.0, 1.0], [0, 40])
  func samplerPicksOnlyAllowedTokens(_ temperature: Double, _ topK: Int) throws {
    guard let (tok, g, factory, checker) = try setup(richSchema) else { return }
    let vocab = ConstraintVocabulary.shared(for: tok)
    for (seed, topP) in [(1, 1.0), (2, 0.9), (3, 1.0)] {
      var p = SamplingParams()
      p.temperature = temperature
      p.topK = topK
      p.topP = topP
      p.minP = 0
      p.seed = UInt64(seed)
      var sampler = Sampler(params: p, vocabSize: vocab.size)
      var rng = SeededGenerator(seed: UInt64(seed))
      let c = factory() as! JSONConstraint
      let budget = g.minimumTokens + 40
      var ids: [Int] = []
      var logits = [Float](repeating: 0, count: vocab.size)
      var mask = [UInt8](repeating: 0, count: vocab.size)
      while !c.isComplete && ids.count < budget {
        for i in logits.indices { logits[i] = Float(rng.unit() * 8) }
        let remaining = budget - ids.count - 1
        var best: Int? = nil
        if temperature == 0 {
          // Greedy must pick the best allowed token, however it finds it.
          _ = mask.withUnsafeMutableBufferPointer { c.fillMask($0, remaining: remaining) }
          best = mask.indices.filter { mask[$0] != 0 }.max { logits[$0] < logits[$1] }
        }
        let t = logits.withUnsafeMutableBufferPointer { sampler.sample($0, history: [], constraint: c, remaining: remaining) }
        guard t >= 0 else { Issue.record("sampler found nothing allowed"); break }
        if let best { #expect(t == best) }
        #expect(c.allows(t, remaining: remaining))
        c.accept(t)
        ids.append(t)
      }
      let bytes = ids.flatMap { tok.tokenBytes($0) }
      #expect(c.isComplete, "\(String(decoding: bytes, as: UTF8.self))")
      guard let v = parseJSON(bytes) else { Issue.record("not JSON: \(String(decoding: bytes, as: UTF8.self))"); continue }
      #expect(checker.errors(v).isEmpty)
    }
  }

  @Test func endOfGenerationOnlyWhenComplete() throws {
    guard let (tok, _, factory, _) = try setup(personSchema) else { return }
    let c = factory()
    let eog = Array(tok.eogIds)
    #expect(!eog.isEmpty)
    for t in tok.encode(#"{"name":"A","age":1,"tags":[]}"#, addSpecial: false, parseSpecial: false) {
      #expect(eog.allSatisfy { !c.allows($0, remaining: 100) })
      #expect(c.allows(t, remaining: 100))
      c.accept(t)
    }
    #expect(c.isComplete)
    #expect(eog.allSatisfy { c.allows($0, remaining: 0) })
  }
}

import Engine
import Foundation
import GGUF
import Testing

@testable import Lifecycle

/// SmolLM2 re-quantized from Q4_1 to Q8_0 and Q4_0: each output loads and generates in Hearth,
/// and `eval compare` measures the change against the Q4_1 original. The figures are printed for
/// docs/registry.md. Run against a release build. (That llama.cpp loads the same outputs, that
/// llama-quantize writes the same bytes and that perplexity matches llama-perplexity's is checked
/// by tests/integration/test_model_lifecycle.py, against llama.cpp's own binaries.)
@Suite(.serialized) struct RealModelTests {
  /// Windows of 128 tokens, 6 of them (6 x 63 = 378 scored tokens).
  static let eval = EvalOptions(ctx: 128, batch: 128, chunks: 6, threads: 2)
  static let corpusCharacters = 12_000

  @Test(arguments: [GGMLType.q8_0, .q4_0])
  func smolLM2RequantizedLoadsGeneratesAndIsMeasured(_ target: GGMLType) throws {
    guard let base = requireModel(smolLM), let text = requireCorpus(characters: Self.corpusCharacters) else { return }
    let dir = TempDir()
    defer { dir.cleanup() }
    let out = dir.file("smollm2.\(target.name).gguf")
    let s = try Quantizer.quantize(input: base, output: out, target: target, threads: 2)
    print("measured: quantize SmolLM2 Q4_1 -> \(target.name): \(String(format: "%.1f", s.seconds)) s, \(s.inputBytes) -> \(s.outputBytes) bytes")
    let f = try GGUFFile(path: out)
    // The tied embedding is Q8_0 already (it wants Q6_K, which 576-wide rows cannot hold).
    #expect(f.tensor(named: "token_embd.weight")?.type == .q8_0)
    #expect(f.tensor(named: "blk.0.ffn_down.weight")?.type == target)
    #expect(f.tensor(named: "blk.29.attn_norm.weight")?.type == .f32)

    // Hearth: loads and generates.
    let m = try LoadedModel(path: out)
    let generated = try greedy(m, prompt: "The capital of France is", tokens: 8)
    #expect(!generated.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "Hearth generated nothing")
    if target == .q8_0 {
      // Q8_0 keeps Q4_1's weights within a fraction of a step: the answer survives (Q4_0's need not).
      #expect(generated.contains("Paris"), "Q8_0 generated \(generated.debugDescription)")
    }

    // eval compare reports the change.
    let r = try Evaluation.compare(base: LoadedModel(path: base), candidate: m, text: text, options: Self.eval)
    let v = r.verdict(CompareLimits(maxPerplexityIncrease: 0.02))
    print(String(format: "measured: compare Q4_1 -> %@: PPL %.4f -> %.4f (%+.2f %%), mean KL %.5f, p99 KL %.5f, top-1 %.2f %%, %@",
      target.name, r.base.perplexity, r.candidate.perplexity, r.perplexityChange * 100, r.meanKL, r.p99KL, r.top1Agreement * 100,
      v.lines[0]))
    #expect(r.meanKL > 0 && r.p99KL >= r.meanKL)
    if target == .q8_0 {
      // Q8_0 holds Q4_1's values almost exactly.
      #expect(r.meanKL < 0.01 && r.top1Agreement > 0.95 && abs(r.perplexityChange) < 0.02)
    } else {
      #expect(r.meanKL < 0.5 && r.top1Agreement > 0.6 && abs(r.perplexityChange) < 0.5)
    }
  }

  @Test func comparingAModelWithItselfShowsNoChange() throws {
    guard let base = requireModel(smolLM), let text = requireCorpus(characters: Self.corpusCharacters) else { return }
    let r = try Evaluation.compare(
      base: LoadedModel(path: base), candidate: LoadedModel(path: base), text: text,
      options: EvalOptions(ctx: 128, chunks: 2, threads: 2))
    #expect(r.meanKL == 0 && r.maxKL == 0 && r.top1Agreement == 1)
    #expect(r.base.perplexity == r.candidate.perplexity)
  }

  @Test func prunedSmolLM2LoadsWithFewerLayersAndCostsPerplexity() throws {
    guard let base = requireModel(smolLM), let text = requireCorpus(characters: Self.corpusCharacters) else { return }
    let dir = TempDir()
    defer { dir.cleanup() }
    let out = dir.file("pruned.gguf")
    let s = try Pruner.prune(input: base, output: out, drop: try Pruner.parseLayers("3,7-9"))
    #expect(s.kept.count == 26)
    let m = try LoadedModel(path: out)
    #expect(m.config.layers == 26)
    #expect(try GGUFFile(path: out).tensors.count == 272 - 4 * 9)
    let r = try Evaluation.compare(base: LoadedModel(path: base), candidate: m, text: text, options: Self.eval)
    print(String(format: "measured: prune SmolLM2 layers 3,7-9: PPL %.4f -> %.4f (%+.1f %%), mean KL %.4f, top-1 %.1f %%",
      r.base.perplexity, r.candidate.perplexity, r.perplexityChange * 100, r.meanKL, r.top1Agreement * 100))
    #expect(r.candidate.perplexity > r.base.perplexity && r.meanKL > 0)
    #expect(!r.verdict(CompareLimits(maxPerplexityIncrease: 0.02)).passed, "dropping 4 of 30 layers should cost more than 2 %")
  }

  /// Greedy completion of a raw prompt, through the engine's scheduler.
  func greedy(_ m: LoadedModel, prompt: String, tokens: Int) throws -> String {
    var config = Scheduler.Config()
    config.threads = 2
    config.kvTokens = 256
    config.maxSequences = 1
    let scheduler = Scheduler(model: m.model, tokenizer: m.tokenizer, config: config)
    var sampling = SamplingParams()
    sampling.temperature = 0
    var text = ""
    var failure: String?
    _ = scheduler.submit(m.request(prompt: m.rawTokens(prompt), sampling: sampling, maxTokens: tokens)) { event in
      switch event {
      case .token(_, let t, _): text += t
      case .finished(_, let t, _): text += t
      case .failed(let message): failure = message
      case .admitted: break
      }
      return true
    }
    scheduler.runUntilIdle()
    if let failure { Issue.record("generation failed: \(failure)") }
    return text
  }
}

import Engine
import Foundation
import Kernels
import Testing

@testable import Lifecycle

@Suite struct EvaluationTests {
  /// Text the tiny tokenizer turns into a long, varied token sequence.
  static let text = (0..<400).map { i in ["ab", " ab", "c", "de", " ab", "xyz", "q"][(i * 7 + i / 3) % 7] }.joined()

  @Test func perplexityScoresTheSecondHalfOfEachWindow() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"))
    let m = try LoadedModel(path: dir.file("m.gguf"))
    let options = EvalOptions(ctx: 32, batch: 12, threads: 1, mode: .exact)
    let r = try Evaluation.perplexity(model: m, text: Self.text, options: options)
    let windows = try EvalWindows(text: Self.text, tokenizer: m.tokenizer, options: options)
    #expect(r.windows == windows.tokens.count / 32 && r.windows >= 2)
    #expect(r.scoredTokens == r.windows * 15)

    // The same tokens scored independently: in each window, positions 17...31 (predicted from
    // 16...30), each window on a fresh context.
    var logprobs: [Double] = []
    for i in 0..<windows.count {
      logprobs += try Scoring.score(model: m.model, tokens: windows.window(i), start: 17, top: 0, mode: .exact, threads: 1).map(\.logprob)
    }
    let expected = exp(-logprobs.reduce(0, +) / Double(logprobs.count))
    #expect(abs(r.perplexity / expected - 1) < 1e-9, "\(r.perplexity) vs \(expected)")
  }

  @Test func identicalModelsCompareAsIdentical() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"))
    let a = try LoadedModel(path: dir.file("m.gguf")), b = try LoadedModel(path: dir.file("m.gguf"))
    let r = try Evaluation.compare(base: a, candidate: b, text: Self.text, options: EvalOptions(ctx: 32, threads: 1))
    #expect(r.meanKL == 0 && r.p99KL == 0 && r.maxKL == 0)
    #expect(r.top1Agreement == 1)
    #expect(r.base.perplexity == r.candidate.perplexity)
    #expect(r.verdict(CompareLimits()).lines == ["perplexity +0.0 % (limit 2 %) PASS"])
  }

  @Test func aQuantizedCandidateDiffers() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"))
    _ = try Quantizer.quantize(input: dir.file("m.gguf"), output: dir.file("q.gguf"), target: .q4_0)
    let r = try Evaluation.compare(
      base: LoadedModel(path: dir.file("m.gguf")), candidate: LoadedModel(path: dir.file("q.gguf")), text: Self.text,
      options: EvalOptions(ctx: 32, threads: 1))
    #expect(r.meanKL > 0 && r.p99KL >= r.meanKL && r.maxKL >= r.p99KL)
    #expect(r.top1Agreement > 0.5 && r.top1Agreement <= 1)
  }

  @Test func verdictLinesAndLimits() {
    let base = PerplexityResult(nll: [2.0, 2.0], windows: Self.windows, seconds: 0)
    let worse = PerplexityResult(nll: [2.0 + log(1.013), 2.0 + log(1.013)], windows: Self.windows, seconds: 0)
    let r = ModelComparison(base: base, candidate: worse, meanKL: 0.01, p99KL: 0.05, maxKL: 0.1, top1Agreement: 0.93)
    let pass = r.verdict(CompareLimits(maxPerplexityIncrease: 0.02, maxMeanKL: 0.05, minTop1Agreement: 0.9))
    #expect(pass.passed)
    #expect(pass.lines == ["perplexity +1.3 % (limit 2 %) PASS", "mean KL 0.01000 (limit 0.05) PASS", "top-1 agreement 93.0 % (limit 90 %) PASS"])
    let fail = r.verdict(CompareLimits(maxPerplexityIncrease: 0.005))
    #expect(!fail.passed && fail.lines == ["perplexity +1.3 % (limit 0.5 %) FAIL"])
    #expect(!r.verdict(CompareLimits(maxPerplexityIncrease: 0.02, maxMeanKL: 0.001)).passed)
  }

  @Test func klAndPercentileMath() {
    // p = softmax([0, ln 3]) = (1/4, 3/4), q = (1/2, 1/2), shifted logits (the shift cancels).
    let p: [Float] = [0, Float(log(3.0))], q: [Float] = [5, 5]
    let kl = p.withUnsafeBufferPointer { pb in
      q.withUnsafeBufferPointer { qb in klDivergence(pb, logSumExp(pb), qb, logSumExp(qb)) }
    }
    let expected = 0.25 * log(0.25 / 0.5) + 0.75 * log(0.75 / 0.5)
    #expect(abs(kl - expected) < 1e-7, "\(kl) vs \(expected)")
    let same = p.withUnsafeBufferPointer { pb in klDivergence(pb, logSumExp(pb), pb, logSumExp(pb)) }
    #expect(same == 0)
    // logSumExp stays finite where exp overflows Float.
    let big: [Float] = [1000, 1000]
    #expect(abs(big.withUnsafeBufferPointer { logSumExp($0) } - (1000 + log(2.0))) < 1e-9)
    // Nearest rank: of 1...200, the 99th percentile is the 198th value; of 1...10, the 10th.
    #expect(nearestRank((1...200).map(Double.init), 0.99) == 198)
    #expect(nearestRank((1...10).map(Double.init), 0.99) == 10)
    #expect(nearestRank([7], 0.99) == 7 && nearestRank([], 0.99) == 0)
    // Perplexity and its +/- as llama-perplexity computes them: exp(mean NLL), and PPL times the
    // standard error of the mean NLL.
    let r = PerplexityResult(nll: [1, 2, 3], windows: Self.windows, seconds: 0)
    #expect(abs(r.perplexity - exp(2.0)) < 1e-12)
    #expect(abs(r.uncertainty - exp(2.0) * (2.0 / 3.0 / 2.0).squareRoot()) < 1e-12)
  }

  @Test func shortTextsAndBadContextsAreRefused() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try Tiny.write(to: dir.file("m.gguf"))
    let m = try LoadedModel(path: dir.file("m.gguf"))
    #expect(throws: LifecycleError.self) { try Evaluation.perplexity(model: m, text: "ab ab", options: EvalOptions(ctx: 32)) }
    // Longer than the model's context of 256.
    #expect(throws: LifecycleError.self) { try Evaluation.perplexity(model: m, text: Self.text + Self.text, options: EvalOptions(ctx: 512)) }
  }

  static var windows: EvalWindows {
    let dir = TempDir()
    defer { dir.cleanup() }
    try! Tiny.write(to: dir.file("m.gguf"))
    return try! EvalWindows(text: text, tokenizer: LoadedModel(path: dir.file("m.gguf")).tokenizer, options: EvalOptions(ctx: 32))
  }
}

import ArgumentParser
import Engine
import Foundation
import Lifecycle

/// `hearth eval compare BASE CANDIDATE --text FILE`: how much a candidate (quantized, pruned)
/// differs from its base, with a PASS/FAIL verdict.
struct EvalCompare: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "compare",
    abstract: "Compare a candidate model with a base model on a text: perplexity change, KL divergence, top-1 agreement.",
    discussion: "Prints a verdict line per limit, e.g. \"perplexity +1.3 % (limit 2 %) PASS\". Exit status 1 when any limit fails.")

  @Argument(help: "The base .gguf model.") var base: String
  @Argument(help: "The candidate .gguf model.") var candidate: String
  @OptionGroup var settings: EvalSettings
  @Option(name: .customLong("max-ppl-increase"), help: "Largest allowed perplexity increase, e.g. 2% or 0.5%.") var maxPplIncrease: String = "2%"
  @Option(name: .customLong("max-kl"), help: "Largest allowed mean KL divergence (nats), e.g. 0.05.") var maxKL: Double?
  @Option(name: .customLong("min-top1"), help: "Smallest allowed top-1 agreement, e.g. 90%.") var minTop1: String?

  func run() throws {
    guard let increase = Self.percent(maxPplIncrease), increase >= 0 else {
      fail("--max-ppl-increase must be a percentage like 2%, got '\(maxPplIncrease)'", code: 64)
    }
    if let k = maxKL, !(k >= 0) { fail("--max-kl must be 0 or more", code: 64) }
    var top1: Double?
    if let minTop1 {
      guard let p = Self.percent(minTop1), p >= 0, p <= 1 else { fail("--min-top1 must be a percentage like 90%, got '\(minTop1)'", code: 64) }
      top1 = p
    }
    let text = settings.readText()
    let a = loadModel(base)
    let b = loadModel(candidate)
    let bar = ProgressBar(unit: .count("windows"))
    let r: ModelComparison
    do { r = try Evaluation.compare(base: a, candidate: b, text: text, options: settings.options, progress: bar.handler) } catch {
      bar.finishLine()
      failEval(error)
    }
    bar.finishLine()
    print(String(format: "base       PPL = %.4f +/- %.5f", r.base.perplexity, r.base.uncertainty))
    print(String(format: "candidate  PPL = %.4f +/- %.5f", r.candidate.perplexity, r.candidate.uncertainty))
    print(String(format: "KL divergence: mean %.6f, p99 %.6f, max %.6f", r.meanKL, r.p99KL, r.maxKL))
    print(String(format: "top-1 agreement: %.2f %%", r.top1Agreement * 100))
    print(String(format: "%d windows of %d tokens, %d scored tokens, %.1f s", r.base.windows, settings.ctx, r.base.scoredTokens, r.base.seconds))
    let verdict = r.verdict(CompareLimits(maxPerplexityIncrease: increase, maxMeanKL: maxKL, minTop1Agreement: top1))
    for line in verdict.lines { print(line) }
    if !verdict.passed { throw ExitCode(1) }
  }

  /// "2%" -> 0.02; a bare number is a percentage too ("2" -> 0.02).
  static func percent(_ s: String) -> Double? {
    let t = s.trimmingCharacters(in: .whitespaces)
    let number = t.hasSuffix("%") ? String(t.dropLast()).trimmingCharacters(in: .whitespaces) : t
    guard let v = Double(number), v.isFinite else { return nil }
    return v / 100
  }
}

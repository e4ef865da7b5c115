import Engine
import Foundation
import Kernels

/// Perplexity over the scored tokens of every window.
public struct PerplexityResult: Sendable {
  public let perplexity: Double
  /// llama-perplexity's "+/-": the standard error of the mean negative log-likelihood, times PPL.
  public let uncertainty: Double
  public let windows: Int
  public let scoredTokens: Int
  public let textTokens: Int
  public let seconds: Double

  init(nll: [Double], windows: EvalWindows, seconds: Double) {
    let n = Double(nll.count)
    let mean = nll.reduce(0, +) / n
    let meanSquare = nll.reduce(0) { $0 + $1 * $1 } / n
    perplexity = exp(mean)
    let variance = meanSquare - mean * mean
    uncertainty = variance > 0 && nll.count > 1 ? (variance / (n - 1)).squareRoot() * perplexity : 0
    self.windows = windows.count
    scoredTokens = nll.count
    textTokens = windows.tokens.count
    self.seconds = seconds
  }
}

/// How a candidate model's predictions differ from a base model's on the same text.
public struct ModelComparison: Sendable {
  public let base: PerplexityResult
  public let candidate: PerplexityResult
  /// KL(base || candidate) per scored token, in nats.
  public let meanKL: Double
  public let p99KL: Double
  public let maxKL: Double
  /// Share of scored positions where both models rank the same token first.
  public let top1Agreement: Double

  /// (candidate - base) / base.
  public var perplexityChange: Double { (candidate.perplexity - base.perplexity) / base.perplexity }
}

/// Limits for `eval compare`'s verdict.
public struct CompareLimits: Sendable {
  /// Largest allowed relative perplexity increase (0.02 is 2 %).
  public var maxPerplexityIncrease: Double = 0.02
  public var maxMeanKL: Double? = nil
  public var minTop1Agreement: Double? = nil

  public init(maxPerplexityIncrease: Double = 0.02, maxMeanKL: Double? = nil, minTop1Agreement: Double? = nil) {
    self.maxPerplexityIncrease = maxPerplexityIncrease
    self.maxMeanKL = maxMeanKL
    self.minTop1Agreement = minTop1Agreement
  }
}

extension ModelComparison {
  /// One line per limit, e.g. "perplexity +1.3 % (limit 2 %) PASS", and whether all passed.
  public func verdict(_ limits: CompareLimits) -> (lines: [String], passed: Bool) {
    var lines: [String] = []
    var passed = true
    func line(_ text: String, _ ok: Bool) {
      lines.append("\(text) \(ok ? "PASS" : "FAIL")")
      passed = passed && ok
    }
    let change = perplexityChange * 100
    line(String(format: "perplexity %@%.1f %% (limit %@ %%)", change >= 0 ? "+" : "", change, Self.trim(limits.maxPerplexityIncrease * 100)),
      perplexityChange <= limits.maxPerplexityIncrease)
    if let k = limits.maxMeanKL { line(String(format: "mean KL %.5f (limit %@)", meanKL, Self.trim(k)), meanKL <= k) }
    if let a = limits.minTop1Agreement {
      line(String(format: "top-1 agreement %.1f %% (limit %@ %%)", top1Agreement * 100, Self.trim(a * 100)), top1Agreement >= a)
    }
    return (lines, passed)
  }

  /// 2.0 -> "2", 0.25 -> "0.25".
  static func trim(_ x: Double) -> String {
    var s = String(format: "%.4f", x)
    while s.hasSuffix("0") { s.removeLast() }
    if s.hasSuffix(".") { s.removeLast() }
    return s
  }
}

/// KL(p || q) in nats between the distributions of two logit rows, given each row's
/// log-sum-exp: sum over the vocabulary of p * (log p - log q).
func klDivergence(_ p: UnsafeBufferPointer<Float>, _ lseP: Double, _ q: UnsafeBufferPointer<Float>, _ lseQ: Double) -> Double {
  var d = 0.0
  for v in 0..<p.count {
    let lp = Double(p[v]) - lseP
    d += exp(lp) * (lp - (Double(q[v]) - lseQ))
  }
  // Rounding can leave a tiny negative sum for identical distributions.
  return max(0, d)
}

/// The nearest-rank percentile of sorted values: the smallest value with at least `fraction` of
/// the values at or below it.
func nearestRank(_ sorted: [Double], _ fraction: Double) -> Double {
  guard !sorted.isEmpty else { return 0 }
  return sorted[max(0, min(sorted.count - 1, Int((fraction * Double(sorted.count)).rounded(.up)) - 1))]
}

/// Index of the largest logit (the first one on ties, as greedy sampling picks).
func argmax(_ x: UnsafeBufferPointer<Float>) -> Int {
  var best = 0
  for i in 1..<x.count where x[i] > x[best] { best = i }
  return best
}

/// Perplexity and model comparison, computed the way llama-perplexity computes them (see
/// `EvalWindows`), so the numbers can be checked against it on the same text and settings.
public enum Evaluation {
  public static func perplexity(
    model: LoadedModel, text: String, options: EvalOptions, progress: ProgressHandler? = nil
  ) throws(LifecycleError) -> PerplexityResult {
    let start = Date()
    let windows = try EvalWindows(text: text, tokenizer: model.tokenizer, options: options)
    let runner = try WindowRunner(model: model.model, options: options, pool: ThreadPool(threads: options.threads))
    var nll: [Double] = []
    nll.reserveCapacity(windows.count * windows.scoredPerWindow)
    progress?("perplexity", 0, windows.count)
    for i in 0..<windows.count {
      let w = windows.window(i)
      runner.begin()
      var pos = 0
      while pos < options.ctx {
        let end = min(options.ctx, pos + options.batch)
        let rows = try runner.feed(w, pos..<end, first: windows.first)
        // Rows are the scored positions of this batch, in order.
        let firstScored = max(pos, windows.first)
        for r in 0..<rows {
          let logits = runner.logits(r)
          nll.append(logSumExp(logits) - Double(logits[w[firstScored + r + 1]]))
        }
        pos = end
      }
      progress?("perplexity", i + 1, windows.count)
    }
    return PerplexityResult(nll: nll, windows: windows, seconds: Date().timeIntervalSince(start))
  }

  /// Runs both models over the same windows, batch by batch, and compares their full
  /// distributions at every scored position: KL(base || candidate), top-1 agreement, and each
  /// model's perplexity. Only one batch of base logits is held at a time.
  public static func compare(
    base: LoadedModel, candidate: LoadedModel, text: String, options: EvalOptions, progress: ProgressHandler? = nil
  ) throws(LifecycleError) -> ModelComparison {
    let start = Date()
    let vocab = base.config.vocabSize
    guard vocab == candidate.config.vocabSize else {
      throw .differentVocabularies(base: vocab, candidate: candidate.config.vocabSize)
    }
    let windows = try EvalWindows(text: text, tokenizer: base.tokenizer, options: options)
    let other = try EvalWindows(text: text, tokenizer: candidate.tokenizer, options: options)
    guard windows.tokens == other.tokens, windows.bos == other.bos else { throw .differentTokenization }

    let pool = ThreadPool(threads: options.threads)
    let a = try WindowRunner(model: base.model, options: options, pool: pool)
    let b = try WindowRunner(model: candidate.model, options: options, pool: pool)
    // Base logits of one batch's scored rows, kept while the candidate runs the same batch.
    var baseLogits = [Float](repeating: 0, count: min(options.batch, windows.scoredPerWindow + 1) * vocab)
    var baseLSE: [Double] = [], baseTop: [Int] = []
    var nllA: [Double] = [], nllB: [Double] = [], kl: [Double] = []
    var agree = 0
    progress?("compare", 0, windows.count)
    for i in 0..<windows.count {
      let w = windows.window(i)
      a.begin()
      b.begin()
      var pos = 0
      while pos < options.ctx {
        let end = min(options.ctx, pos + options.batch)
        let rows = try a.feed(w, pos..<end, first: windows.first)
        let firstScored = max(pos, windows.first)
        baseLSE.removeAll(keepingCapacity: true)
        baseTop.removeAll(keepingCapacity: true)
        for r in 0..<rows {
          let logits = a.logits(r)
          let lse = logSumExp(logits)
          baseLSE.append(lse)
          baseTop.append(argmax(logits))
          baseLogits.withUnsafeMutableBufferPointer { _ = $0[(r * vocab)..<((r + 1) * vocab)].initialize(from: logits) }
          nllA.append(lse - Double(logits[w[firstScored + r + 1]]))
        }
        let rowsB = try b.feed(w, pos..<end, first: windows.first)
        precondition(rowsB == rows, "both models score the same positions")
        for r in 0..<rows {
          let logits = b.logits(r)
          let lse = logSumExp(logits)
          let d = baseLogits.withUnsafeBufferPointer { base in
            klDivergence(UnsafeBufferPointer(rebasing: base[(r * vocab)..<((r + 1) * vocab)]), baseLSE[r], logits, lse)
          }
          kl.append(d)
          if argmax(logits) == baseTop[r] { agree += 1 }
          nllB.append(lse - Double(logits[w[firstScored + r + 1]]))
        }
        pos = end
      }
      progress?("compare", i + 1, windows.count)
    }
    let seconds = Date().timeIntervalSince(start)
    let sorted = kl.sorted()
    let p99 = nearestRank(sorted, 0.99)
    return ModelComparison(
      base: PerplexityResult(nll: nllA, windows: windows, seconds: seconds),
      candidate: PerplexityResult(nll: nllB, windows: windows, seconds: seconds),
      meanKL: kl.reduce(0, +) / Double(kl.count), p99KL: p99, maxKL: sorted.last ?? 0,
      top1Agreement: Double(agree) / Double(kl.count))
  }
}

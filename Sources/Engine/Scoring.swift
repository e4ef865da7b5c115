import Foundation
import Kernels
import Models

/// One teacher-forced position: the distribution that predicts `token`.
public struct ScoredToken: Sendable, Codable, Equatable {
  public var token: Int
  public var logprob: Double
  /// The most likely tokens with their logprobs, highest first.
  public var top: [[Double]]

  public var argmax: Int { top.first.map { Int($0[0]) } ?? -1 }
}

/// Teacher-forced scoring: feeds a token sequence and reports, for each position from `start`
/// on, how the model rated the token that actually came next. Used by `hearth score` and by
/// perplexity evaluation.
public enum Scoring {
  /// Scores `tokens[start...]`; each entry comes from the logits at the previous position.
  public static func score(
    model: any LanguageModel, tokens: [Int], start: Int, top: Int = 5, mode: KernelMode = .fast, threads: Int = 2,
    chunk: Int = 64, pool: ThreadPool? = nil
  ) throws -> [ScoredToken] {
    guard start >= 1, start < tokens.count else {
      throw ScoringError.badStart(start: start, count: tokens.count)
    }
    let pool = pool ?? ThreadPool(threads: threads)
    let state = model.makeState(maxBatch: chunk, maxOutputs: chunk, mode: mode, pool: pool)
    let cache = model.makeCache(maxTokens: tokens.count, blockTokens: 32, mode: mode)
    let seq = cache.createSequence()
    var batch = Batch(capacity: chunk)
    var out: [ScoredToken] = []
    out.reserveCapacity(tokens.count - start)
    var pos = 0
    // The last token is only ever predicted, never fed.
    while pos < tokens.count - 1 {
      batch.clear()
      let end = min(tokens.count - 1, pos + chunk)
      for p in pos..<end { batch.add(token: tokens[p], position: p, sequence: seq, logits: p + 1 >= start) }
      let rows = try model.forward(batch, cache: cache, state: state)
      var row = 0
      for p in pos..<end where p + 1 >= start {
        let logits = UnsafeBufferPointer(state.logitsRow(row))
        let next = tokens[p + 1]
        let r = Sampler.logprobs(logits, token: next, top: top)
        out.append(ScoredToken(token: next, logprob: r.logprob, top: r.top.map { [Double($0.0), $0.1] }))
        row += 1
      }
      precondition(row == rows)
      pos = end
    }
    return out
  }

  /// exp(mean negative log-likelihood) of scored tokens.
  public static func perplexity(_ scored: [ScoredToken]) -> Double {
    guard !scored.isEmpty else { return .nan }
    return exp(-scored.reduce(0) { $0 + $1.logprob } / Double(scored.count))
  }
}

public enum ScoringError: Error, CustomStringConvertible {
  case badStart(start: Int, count: Int)

  public var description: String {
    switch self {
    case .badStart(let s, let n): return "--start \(s) must be at least 1 and less than the number of tokens (\(n))"
    }
  }
}

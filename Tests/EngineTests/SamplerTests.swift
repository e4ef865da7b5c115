import Engine
import Foundation
import Testing

/// The sampler's behaviour on known distributions: which tokens each filter lets through, how
/// temperature reshapes the draw, what the penalties do to the logits, and that a seed fixes the
/// sequence. Counts come from a few thousand seeded draws; the bounds are many standard deviations
/// wide, so they cannot flake, yet a filter that does nothing or a wrong formula fails them.
@Suite struct SamplerTests {
  /// Log-probabilities of [0.5, 0.3, 0.15, 0.05] followed by `extra` tokens of 1e-4 each.
  static func logits(extra: Int = 0) -> [Float] {
    [0.5, 0.3, 0.15, 0.05].map { Float(log($0)) } + [Float](repeating: Float(log(1e-4)), count: extra)
  }

  static func params(temperature: Double = 1, topK: Int = 0, topP: Double = 1, minP: Double = 0, seed: UInt64 = 42) -> SamplingParams {
    var p = SamplingParams()
    p.temperature = temperature
    p.topK = topK
    p.topP = topP
    p.minP = minP
    p.seed = seed
    return p
  }

  /// How often each token is drawn in `n` draws.
  static func histogram(_ p: SamplingParams, _ logits: [Float], n: Int = 4000) -> [Int: Int] {
    var s = Sampler(params: p, vocabSize: logits.count)
    var counts: [Int: Int] = [:]
    for _ in 0..<n {
      var l = logits
      let t = l.withUnsafeMutableBufferPointer { s.sample($0, history: []) }
      counts[t, default: 0] += 1
    }
    return counts
  }

  @Test func greedyTakesTheArgmax() {
    var l: [Float] = [0.1, 2.5, -1, 2.4]
    var s = Sampler(params: .greedy, vocabSize: l.count)
    for _ in 0..<5 { #expect(l.withUnsafeMutableBufferPointer { s.sample($0, history: []) } == 1) }
  }

  @Test func plainSamplingFollowsTheDistribution() {
    let h = Self.histogram(Self.params(), Self.logits())
    // Expected 2000/1200/600/200 of 4000; sd at most ~32.
    #expect(abs(h[0, default: 0] - 2000) < 200)
    #expect(abs(h[1, default: 0] - 1200) < 180)
    #expect(abs(h[2, default: 0] - 600) < 130)
    #expect(abs(h[3, default: 0] - 200) < 80)
  }

  @Test func topKKeepsOnlyTheKLikeliest() {
    let h = Self.histogram(Self.params(topK: 2), Self.logits(extra: 100))
    #expect(Set(h.keys) == [0, 1])
    // Renormalised over the two: 0.625 / 0.375.
    #expect(abs(h[0, default: 0] - 2500) < 200)
  }

  @Test func topPKeepsTheSmallestSetReachingP() {
    // 0.5 + 0.3 = 0.8 >= 0.75: tokens 0 and 1 only.
    #expect(Set(Self.histogram(Self.params(topP: 0.75), Self.logits(extra: 50)).keys) == [0, 1])
    // 0.5 + 0.3 + 0.15 = 0.95 >= 0.9.
    #expect(Set(Self.histogram(Self.params(topP: 0.9), Self.logits(extra: 50)).keys) == [0, 1, 2])
  }

  @Test func minPDropsTokensBelowAShareOfTheBest() {
    // p / p_max: 1, 0.6, 0.3, 0.1, 0.0002...: min-p 0.25 keeps three, 0.5 keeps two.
    #expect(Set(Self.histogram(Self.params(minP: 0.25), Self.logits(extra: 50)).keys) == [0, 1, 2])
    #expect(Set(Self.histogram(Self.params(minP: 0.5), Self.logits(extra: 50)).keys) == [0, 1])
  }

  @Test func temperatureSharpensAndFlattens() {
    let cold = Self.histogram(Self.params(temperature: 0.1), Self.logits())
    // At T = 0.1 token 1 has weight (0.3/0.5)^10 ≈ 0.006 of token 0's.
    #expect(cold[0, default: 0] > 3900)
    let hot = Self.histogram(Self.params(temperature: 4), Self.logits())
    // At T = 4 token 3 has (0.05)^0.25 ≈ 0.47 of token 0's weight: about 17 % of draws, not 5 %.
    #expect(hot[3, default: 0] > 500)
    #expect(hot[0, default: 0] < 1500)
  }

  @Test func aSeedFixesTheSequence() {
    func draws(_ seed: UInt64) -> [Int] {
      var s = Sampler(params: Self.params(seed: seed), vocabSize: 54)
      return (0..<64).map { _ in
        var l = Self.logits(extra: 50)
        return l.withUnsafeMutableBufferPointer { s.sample($0, history: []) }
      }
    }
    #expect(draws(7) == draws(7))
    #expect(draws(7) != draws(8))
    #expect(Set([draws(1), draws(2), draws(3)].map { $0.description }).count == 3)
  }

  /// The logits after the penalties, for `history`.
  static func penalised(_ logits: [Float], history: [Int], repetition: Double = 1, presence: Double = 0, frequency: Double = 0, window: Int = 64) -> [Float] {
    var p = SamplingParams.greedy
    p.repetitionPenalty = repetition
    p.presencePenalty = presence
    p.frequencyPenalty = frequency
    p.penaltyWindow = window
    var s = Sampler(params: p, vocabSize: logits.count)
    var l = logits
    _ = l.withUnsafeMutableBufferPointer { s.sample($0, history: history[...]) }
    return l
  }

  @Test func repetitionPenaltyDividesPositiveAndMultipliesNegativeLogits() {
    // llama.cpp's rule: a seen token's logit is divided by the penalty when positive, multiplied when negative.
    #expect(Self.penalised([2, 1, -1, 3], history: [0, 2, 2], repetition: 2) == [1, 1, -2, 3])
  }

  @Test func presenceAndFrequencyPenaltiesFollowOpenAI() {
    // OpenAI: logit -= frequency * count + presence * (count > 0).
    #expect(Self.penalised([1, 1, 1, 1], history: [1, 1, 2], presence: 0.5) == [1, 0.5, 0.5, 1])
    #expect(Self.penalised([1, 1, 1, 1], history: [1, 1, 2], frequency: 0.25) == [1, 0.5, 0.75, 1])
    #expect(Self.penalised([1, 1, 1, 1], history: [1, 1, 2], presence: 0.5, frequency: 0.25) == [1, 0, 0.25, 1])
  }

  @Test func penaltiesLookOnlyAtTheWindow() {
    #expect(Self.penalised([1, 1, 1], history: [0, 1, 2], presence: 1, window: 2) == [1, 0, 0])
    #expect(Self.penalised([1, 1, 1], history: [0, 1, 2], presence: 1, window: -1) == [0, 0, 0])
  }

  @Test func penaltiesChangeTheGreedyChoice() {
    // Token 0 leads by 0.5; having appeared twice with frequency 0.5 it falls behind token 1.
    var p = SamplingParams.greedy
    p.frequencyPenalty = 0.5
    var s = Sampler(params: p, vocabSize: 3)
    var l: [Float] = [2, 1.5, 0]
    #expect(l.withUnsafeMutableBufferPointer { s.sample($0, history: [0, 0]) } == 1)
  }
}

import Foundation

/// How the next token is chosen. Defaults follow llama.cpp's, so that results compare.
public struct SamplingParams: Sendable, Equatable, Codable {
  /// 0 (or less) means greedy: always the most likely token.
  public var temperature: Double = 0.8
  /// Keep only the k most likely tokens; 0 disables.
  public var topK: Int = 40
  /// Keep the smallest set of tokens whose probability reaches p; 1 disables.
  public var topP: Double = 0.95
  /// Drop tokens less likely than minP times the most likely one; 0 disables.
  public var minP: Double = 0.05
  /// Divides positive logits (multiplies negative ones) of tokens seen recently; 1 disables.
  public var repetitionPenalty: Double = 1.0
  /// OpenAI's presence penalty: subtracted once from a token's logit if it appeared.
  public var presencePenalty: Double = 0
  /// OpenAI's frequency penalty: subtracted per occurrence.
  public var frequencyPenalty: Double = 0
  /// How many recent tokens the penalties look at; -1 means all.
  public var penaltyWindow: Int = 64
  /// Seeds the random draw; the same seed, prompt and settings give the same text.
  public var seed: UInt64? = nil

  public init() {}

  public static var greedy: SamplingParams {
    var p = SamplingParams()
    p.temperature = 0
    return p
  }
}

/// A small, fast, seedable generator (xoshiro256**), so runs are reproducible across platforms.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
  private var s: (UInt64, UInt64, UInt64, UInt64)

  public init(seed: UInt64) {
    var z = seed
    func splitmix() -> UInt64 {
      z &+= 0x9E37_79B9_7F4A_7C15
      var x = z
      x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
      x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
      return x ^ (x >> 31)
    }
    s = (splitmix(), splitmix(), splitmix(), splitmix())
  }

  public mutating func next() -> UInt64 {
    let result = ((s.1 &* 5) << 7 | (s.1 &* 5) >> 57) &* 9
    let t = s.1 << 17
    s.2 ^= s.0
    s.3 ^= s.1
    s.1 ^= s.2
    s.0 ^= s.3
    s.2 ^= t
    s.3 = (s.3 << 45) | (s.3 >> 19)
    return result
  }

  /// A uniform Double in [0, 1).
  public mutating func unit() -> Double { Double(next() >> 11) * 0x1.0p-53 }
}

/// Picks tokens from logits. It owns its candidate buffers (sized to the vocabulary once), so
/// sampling allocates nothing per token.
public struct Sampler: Sendable {
  public var params: SamplingParams
  private var rng: SeededGenerator
  private var ids: [Int32]
  private var vals: [Float]
  private var counts: [Int: Int] = [:]
  /// Allowed-token flags for constrained sampling; sized on first use.
  private var mask: [UInt8] = []

  public init(params: SamplingParams, vocabSize: Int) {
    self.params = params
    rng = SeededGenerator(seed: params.seed ?? UInt64.random(in: 0...UInt64.max))
    ids = [Int32](repeating: 0, count: vocabSize)
    vals = [Float](repeating: 0, count: vocabSize)
  }

  /// Chooses the next token. `logits` is modified by the penalties; `history` holds the tokens
  /// so far (prompt and generated), newest last.
  public mutating func sample(
    _ logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int>, constraint: (any TokenConstraint)? = nil, remaining: Int = .max
  ) -> Int {
    applyPenalties(logits, history: history)
    if let constraint { return sampleConstrained(logits, constraint, remaining: remaining) }
    if params.temperature <= 0 { return Self.argmax(logits) }
    var n = collectCandidates(logits)
    while n > 1, vals[n - 1] == -.infinity { n -= 1 }  // forbidden tokens never win the draw
    return draw(n)
  }

  /// Draws from the first `count` candidates in ids/vals (sorted, highest first).
  private mutating func draw(_ count: Int) -> Int {
    var n = count
    // Softmax over candidates (sorted, highest first), then top-p and min-p, then temperature.
    let top = vals[0]
    var sum: Double = 0
    for i in 0..<n { sum += exp(Double(vals[i] - top)) }
    if params.topP < 1 {
      var cum: Double = 0
      for i in 0..<n {
        cum += exp(Double(vals[i] - top)) / sum
        if cum >= params.topP { n = i + 1; break }
      }
    }
    if params.minP > 0 {
      let cut = Float(log(params.minP))  // p_i / p_max >= minP  <=>  l_i - l_max >= log(minP)
      var keep = 1
      while keep < n, vals[keep] - top >= cut { keep += 1 }
      n = keep
    }
    let t = params.temperature
    var total: Double = 0
    for i in 0..<n { total += exp(Double(vals[i] - top) / t) }
    var r = rng.unit() * total
    for i in 0..<n {
      r -= exp(Double(vals[i] - top) / t)
      if r < 0 { return Int(ids[i]) }
    }
    return Int(ids[n - 1])
  }

  // MARK: constrained sampling

  /// Samples from the distribution that masking every forbidden token would give, without
  /// asking the constraint about all of the vocabulary when it can be avoided: greedy and top-k
  /// only need the best few allowed tokens, found by testing candidates in logit order. When
  /// every allowed token counts (no top-k), a TokenMasking constraint lists them in one pass.
  /// Returns -1 when nothing is allowed.
  private mutating func sampleConstrained(_ logits: UnsafeMutableBufferPointer<Float>, _ constraint: any TokenConstraint, remaining: Int) -> Int {
    let v = logits.count
    let want = params.temperature <= 0 ? 1 : params.topK
    if want > 0, want <= v / 64, let found = lazyCandidates(logits, want: want, constraint, remaining: remaining) {
      var n = found
      while n > 1, vals[n - 1] == -.infinity { n -= 1 }
      guard n > 0 else { return -1 }
      return params.temperature <= 0 ? Int(ids[0]) : draw(n)
    }
    if mask.count != v { mask = [UInt8](repeating: 0, count: v) }
    let allowed = mask.withUnsafeMutableBufferPointer { m in
      if let fast = constraint as? any TokenMasking { return fast.fillMask(m, remaining: remaining) }
      var n = 0
      for i in 0..<v {
        let ok = constraint.allows(i, remaining: remaining)
        m[i] = ok ? 1 : 0
        n += ok ? 1 : 0
      }
      return n
    }
    guard allowed > 0 else { return -1 }
    if params.temperature <= 0 || (params.topK == 0 && params.topP >= 1 && params.minP <= 0) {
      return drawAllowed(logits)
    }
    var n: Int
    if params.topK > 0 {
      for i in 0..<v where mask[i] == 0 { logits[i] = -.infinity }
      n = collectCandidates(logits)
    } else {
      n = collectAllowed(logits)
    }
    while n > 1, vals[n - 1] == -.infinity { n -= 1 }
    return draw(n)
  }

  /// The allowed tokens into ids/vals, sorted by logit, highest first; returns how many.
  /// Sorting only these is what makes top-p cheap where JSON allows few tokens.
  private mutating func collectAllowed(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
    var n = 0
    for i in 0..<logits.count where mask[i] != 0 {
      ids[n] = Int32(i)
      n += 1
    }
    ids.withUnsafeMutableBufferPointer { idb in
      idb[0..<n].sort { logits[Int($0)] > logits[Int($1)] }
    }
    for i in 0..<n { vals[i] = logits[Int(ids[i])] }
    return n
  }

  /// The `want` likeliest allowed tokens into ids/vals, highest first, if they are among the
  /// max(16, 4 * want) likeliest of all; nil otherwise. One window only: when the model's
  /// favourites are mostly forbidden (it would rather write prose than JSON), few tokens are
  /// allowed at all and masking them is cheaper than searching further down the logits.
  private mutating func lazyCandidates(
    _ logits: UnsafeMutableBufferPointer<Float>, want: Int, _ constraint: any TokenConstraint, remaining: Int
  ) -> Int? {
    let got = collectTop(logits, min(max(16, want * 4), logits.count))
    var n = 0
    for i in 0..<got where constraint.allows(Int(ids[i]), remaining: remaining) {
      ids[n] = ids[i]
      vals[n] = vals[i]
      n += 1
      if n == want { return n }
    }
    return got == logits.count ? n : nil
  }

  /// Greedy or plain-temperature choice among the tokens the mask allows, without sorting.
  private mutating func drawAllowed(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
    var best = -1
    var top = -Float.infinity
    for i in 0..<logits.count where mask[i] != 0 && (best < 0 || logits[i] > top) {
      best = i
      top = logits[i]
    }
    if params.temperature <= 0 || top == -.infinity { return best }
    // Weights go into vals (by token id) so the second pass needs no exp; Float exp, since the
    // weights are stored as Float anyway (the sums stay in Double).
    let t = Float(params.temperature)
    var total: Double = 0
    for i in 0..<logits.count {
      let w: Float = mask[i] != 0 ? exp((logits[i] - top) / t) : 0
      vals[i] = w
      total += Double(w)
    }
    var r = rng.unit() * total
    for i in 0..<logits.count where vals[i] > 0 {
      r -= Double(vals[i])
      if r < 0 { return i }
    }
    return best
  }

  /// Puts the candidates in ids/vals, sorted by logit, highest first; returns how many.
  private mutating func collectCandidates(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
    collectTop(logits, params.topK > 0 ? min(params.topK, logits.count) : logits.count)
  }

  /// Puts the k highest logits in ids/vals, highest first; returns k.
  private mutating func collectTop(_ logits: UnsafeMutableBufferPointer<Float>, _ k: Int) -> Int {
    let v = logits.count
    if k == v {
      for i in 0..<v { ids[i] = Int32(i) }
      ids.withUnsafeMutableBufferPointer { idb in
        idb.sort { logits[Int($0)] > logits[Int($1)] }
      }
      for i in 0..<v { vals[i] = logits[Int(ids[i])] }
      return v
    }
    // A min-heap of the best k keeps this O(V log k) for large vocabularies.
    var size = 0
    for i in 0..<v {
      let x = logits[i]
      if size < k {
        vals[size] = x; ids[size] = Int32(i); size += 1
        var c = size - 1
        while c > 0 {
          let p = (c - 1) / 2
          if vals[p] <= vals[c] { break }
          vals.swapAt(p, c); ids.swapAt(p, c); c = p
        }
      } else if x > vals[0] {
        vals[0] = x; ids[0] = Int32(i)
        siftDown(0, count: k)
      }
    }
    // Heap sort in place: moving each minimum to the end leaves the array highest first.
    for end in stride(from: k - 1, to: 0, by: -1) {
      vals.swapAt(0, end); ids.swapAt(0, end)
      siftDown(0, count: end)
    }
    return k
  }

  private mutating func siftDown(_ start: Int, count: Int) {
    var p = start
    while true {
      let l = 2 * p + 1, r = l + 1
      var m = p
      if l < count, vals[l] < vals[m] { m = l }
      if r < count, vals[r] < vals[m] { m = r }
      if m == p { return }
      vals.swapAt(p, m); ids.swapAt(p, m); p = m
    }
  }

  private mutating func applyPenalties(_ logits: UnsafeMutableBufferPointer<Float>, history: ArraySlice<Int>) {
    let p = params
    guard p.repetitionPenalty != 1 || p.presencePenalty != 0 || p.frequencyPenalty != 0 else { return }
    let window = p.penaltyWindow < 0 ? history : history.suffix(p.penaltyWindow)
    counts.removeAll(keepingCapacity: true)
    for t in window where t >= 0 && t < logits.count { counts[t, default: 0] += 1 }
    for (t, n) in counts {
      var l = logits[t]
      if p.repetitionPenalty != 1 {
        l = l > 0 ? l / Float(p.repetitionPenalty) : l * Float(p.repetitionPenalty)
      }
      l -= Float(p.frequencyPenalty) * Float(n) + Float(p.presencePenalty)
      logits[t] = l
    }
  }

  /// The index of the largest logit (lowest index on ties).
  public static func argmax(_ logits: UnsafeMutableBufferPointer<Float>) -> Int {
    var best = 0
    var bv = -Float.infinity
    for i in 0..<logits.count where logits[i] > bv {
      bv = logits[i]; best = i
    }
    return best
  }

  /// Log-softmax of token `id` and the top `k` (id, logprob) pairs, from raw logits. Sums in Double.
  public static func logprobs(_ logits: UnsafeBufferPointer<Float>, token: Int, top k: Int) -> (logprob: Double, top: [(Int, Double)]) {
    var m = -Float.infinity
    for x in logits where x > m { m = x }
    var sum: Double = 0
    for x in logits { sum += exp(Double(x - m)) }
    let lse = Double(m) + log(sum)
    var best: [(Int, Float)] = []
    if k > 0 {
      best.reserveCapacity(k + 1)
      for (i, x) in logits.enumerated() where best.count < k || x > best[best.count - 1].1 {
        var j = best.count
        best.append((i, x))
        while j > 0, best[j - 1].1 < x { best[j] = best[j - 1]; j -= 1 }
        best[j] = (i, x)
        if best.count > k { best.removeLast() }
      }
    }
    return (Double(logits[token]) - lse, best.map { ($0.0, Double($0.1) - lse) })
  }
}

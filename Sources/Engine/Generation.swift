/// What to generate: a tokenized prompt and how to continue it.
public struct GenerationRequest: Sendable {
  public var prompt: [Int]
  public var sampling: SamplingParams
  public var maxTokens: Int
  public var stop: [String]
  /// Tokens that end generation (the model's end-of-generation set unless ignored).
  public var stopTokens: Set<Int>
  /// nil: no logprobs; k: the sampled token's logprob and the top k alternatives.
  public var logprobs: Int?
  /// Scopes prefix-cache reuse (a tenant); requests with different keys never share KV blocks.
  public var cacheScope: String
  /// Restricts the output (JSON mode, JSON schema); nil for free text.
  public var constraint: ConstraintFactory?

  public init(prompt: [Int], sampling: SamplingParams = SamplingParams(), maxTokens: Int = 256, stop: [String] = [],
              stopTokens: Set<Int> = [], logprobs: Int? = nil, cacheScope: String = "", constraint: ConstraintFactory? = nil) {
    self.prompt = prompt
    self.sampling = sampling
    self.maxTokens = maxTokens
    self.stop = stop
    self.stopTokens = stopTokens
    self.logprobs = logprobs
    self.cacheScope = cacheScope
    self.constraint = constraint
  }
}

public enum FinishReason: String, Sendable, Codable {
  case stop, length, cancelled
}

public struct Usage: Sendable, Equatable, Codable {
  public var promptTokens: Int
  public var completionTokens: Int
  public var cachedTokens: Int = 0
  public var totalTokens: Int { promptTokens + completionTokens }

  public init(promptTokens: Int, completionTokens: Int, cachedTokens: Int = 0) {
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.cachedTokens = cachedTokens
  }
}

/// The log-probability of a sampled token and, when asked, its most likely alternatives.
public struct TokenLogprob: Sendable, Equatable {
  public var token: Int
  public var logprob: Double
  public var top: [(id: Int, logprob: Double)]

  public static func == (a: TokenLogprob, b: TokenLogprob) -> Bool {
    a.token == b.token && a.logprob == b.logprob && a.top.map(\.id) == b.top.map(\.id)
      && a.top.map(\.logprob) == b.top.map(\.logprob)
  }
}

/// What a running request reports, in order: tokens as they are sampled, then one `finished`.
public enum GenerationEvent: Sendable {
  /// The request left the queue and holds its KV blocks; `cachedTokens` of its prompt came
  /// from the prefix cache.
  case admitted(cachedTokens: Int)
  /// A sampled token. `text` is the new text it completes (possibly empty while a multi-byte
  /// character or a possible stop string is pending).
  case token(id: Int, text: String, logprob: TokenLogprob?)
  /// Generation ended. `text` is held-back text released at the end (may be empty).
  case finished(reason: FinishReason, text: String, usage: Usage)
  case failed(String)
}

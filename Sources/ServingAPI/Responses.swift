import Engine
import Foundation

extension JSON {
  /// An object with keys in the given order (responses read the way OpenAI's do).
  public static func obj(_ pairs: [(String, JSON)]) -> JSON {
    var d: [String: JSON] = [:]
    for (k, v) in pairs { d[k] = v }
    return .object(d, keys: pairs.map(\.0))
  }

  public static func int(_ i: Int) -> JSON { .number(Double(i)) }
  public static func str(_ s: String?) -> JSON { s.map { .string($0) } ?? .null }
}

/// Builds OpenAI-shaped response bodies and stream chunks.
public enum Responses {
  public static func usage(_ u: Usage) -> JSON {
    var pairs: [(String, JSON)] = [
      ("prompt_tokens", .int(u.promptTokens)), ("completion_tokens", .int(u.completionTokens)), ("total_tokens", .int(u.totalTokens)),
    ]
    if u.cachedTokens > 0 { pairs.append(("prompt_tokens_details", .obj([("cached_tokens", .int(u.cachedTokens))]))) }
    return .obj(pairs)
  }

  /// One token's entry in chat logprobs: token text, logprob, bytes, and alternatives.
  public static func chatLogprob(_ lp: TokenLogprob, text: (Int) -> [UInt8]) -> JSON {
    func entry(_ id: Int, _ logprob: Double) -> [(String, JSON)] {
      let b = text(id)
      return [("token", .string(String(decoding: b, as: UTF8.self))), ("logprob", .number(logprob)), ("bytes", .array(b.map { .int(Int($0)) }))]
    }
    return .obj(entry(lp.token, lp.logprob) + [("top_logprobs", .array(lp.top.map { .obj(entry($0.id, $0.logprob)) }))])
  }

  public static func chatCompletion(
    id: String, created: Int, model: String, choices: [(text: String, finish: FinishReason, logprobs: [JSON]?)], usage u: Usage,
    fingerprint: String
  ) -> JSON {
    .obj([
      ("id", .string(id)), ("object", .string("chat.completion")), ("created", .int(created)), ("model", .string(model)),
      ("system_fingerprint", .string(fingerprint)),
      ("choices", .array(choices.enumerated().map { (i, c) in
        .obj([
          ("index", .int(i)),
          ("message", .obj([("role", .string("assistant")), ("content", .string(c.text)), ("refusal", .null)])),
          ("logprobs", c.logprobs.map { .obj([("content", .array($0)), ("refusal", .null)]) } ?? .null),
          ("finish_reason", .string(openAIReason(c.finish))),
        ])
      })),
      ("usage", usage(u)),
    ])
  }

  /// A streamed chat chunk for one choice: the opening role, a content delta, or the finish.
  public static func chatChunk(
    id: String, created: Int, model: String, index: Int, role: Bool = false, content: String? = nil, logprobs: [JSON]? = nil,
    finish: FinishReason? = nil, fingerprint: String
  ) -> JSON {
    var delta: [(String, JSON)] = []
    if role { delta.append(("role", .string("assistant"))) }
    if let content { delta.append(("content", .string(content))) }
    return .obj([
      ("id", .string(id)), ("object", .string("chat.completion.chunk")), ("created", .int(created)), ("model", .string(model)),
      ("system_fingerprint", .string(fingerprint)),
      ("choices", .array([.obj([
        ("index", .int(index)), ("delta", .obj(delta)),
        ("logprobs", logprobs.map { .obj([("content", .array($0)), ("refusal", .null)]) } ?? .null),
        ("finish_reason", finish.map { .string(openAIReason($0)) } ?? .null),
      ])])),
    ])
  }

  /// The final usage chunk of a stream (`stream_options.include_usage`): no choices.
  public static func usageChunk(id: String, created: Int, model: String, object: String, usage u: Usage, fingerprint: String) -> JSON {
    .obj([
      ("id", .string(id)), ("object", .string(object)), ("created", .int(created)), ("model", .string(model)),
      ("system_fingerprint", .string(fingerprint)), ("choices", .array([])), ("usage", usage(u)),
    ])
  }

  /// Legacy completions logprobs: parallel arrays of tokens, logprobs, top alternatives and offsets.
  public static func completionLogprobs(_ lps: [TokenLogprob], text: (Int) -> [UInt8], startOffset: Int) -> JSON {
    var offset = startOffset
    var tokens: [JSON] = [], logprobs: [JSON] = [], tops: [JSON] = [], offsets: [JSON] = []
    for lp in lps {
      let t = String(decoding: text(lp.token), as: UTF8.self)
      tokens.append(.string(t))
      logprobs.append(.number(lp.logprob))
      var top: [(String, JSON)] = []
      for alt in lp.top {
        let key = String(decoding: text(alt.id), as: UTF8.self)
        if !top.contains(where: { $0.0 == key }) { top.append((key, .number(alt.logprob))) }
      }
      tops.append(.obj(top))
      offsets.append(.int(offset))
      offset += t.count
    }
    return .obj([("tokens", .array(tokens)), ("token_logprobs", .array(logprobs)), ("top_logprobs", .array(tops)), ("text_offset", .array(offsets))])
  }

  public static func completion(
    id: String, created: Int, model: String, choices: [(text: String, finish: FinishReason, logprobs: JSON?)], usage u: Usage,
    fingerprint: String
  ) -> JSON {
    .obj([
      ("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)), ("model", .string(model)),
      ("system_fingerprint", .string(fingerprint)),
      ("choices", .array(choices.enumerated().map { (i, c) in
        .obj([("text", .string(c.text)), ("index", .int(i)), ("logprobs", c.logprobs ?? .null), ("finish_reason", .string(openAIReason(c.finish)))])
      })),
      ("usage", usage(u)),
    ])
  }

  public static func completionChunk(
    id: String, created: Int, model: String, index: Int, text: String, logprobs: JSON? = nil, finish: FinishReason? = nil, fingerprint: String
  ) -> JSON {
    .obj([
      ("id", .string(id)), ("object", .string("text_completion")), ("created", .int(created)), ("model", .string(model)),
      ("system_fingerprint", .string(fingerprint)),
      ("choices", .array([.obj([
        ("text", .string(text)), ("index", .int(index)), ("logprobs", logprobs ?? .null),
        ("finish_reason", finish.map { .string(openAIReason($0)) } ?? .null),
      ])])),
    ])
  }

  public static func embeddings(model: String, vectors: [[Float]], base64: Bool, promptTokens: Int) -> JSON {
    .obj([
      ("object", .string("list")),
      ("data", .array(vectors.enumerated().map { (i, v) in
        let value: JSON
        if base64 {
          value = .string(v.withUnsafeBytes { Data($0) }.base64EncodedString())
        } else {
          value = .array(v.map { .number(Double($0)) })
        }
        return .obj([("object", .string("embedding")), ("index", .int(i)), ("embedding", value)])
      })),
      ("model", .string(model)),
      ("usage", .obj([("prompt_tokens", .int(promptTokens)), ("total_tokens", .int(promptTokens))])),
    ])
  }

  /// A client-side cancellation never reaches a response; the engine's reasons map to OpenAI's.
  static func openAIReason(_ r: FinishReason) -> String {
    switch r {
    case .stop: return "stop"
    case .length: return "length"
    case .cancelled: return "stop"
    }
  }

  /// One server-sent event carrying `json`.
  public static func sse(_ json: JSON) -> String { "data: \(json.text)\n\n" }
  public static let sseDone = "data: [DONE]\n\n"
}

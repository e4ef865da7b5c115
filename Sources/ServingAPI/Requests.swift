import Engine
import Foundation

/// Bounds checked on every request before any work starts.
public struct RequestLimits: Sendable {
  public var maxTokens = 4096
  public var maxN = 8
  public var maxStop = 4
  public var maxStopLength = 256
  public var maxMessages = 1024
  public var maxTopLogprobs = 20
  public var maxEmbeddingInputs = 256
  public init() {}
}

public enum ResponseFormat: Sendable, Equatable {
  case text
  /// Any JSON object.
  case jsonObject
  /// JSON valid for a schema, enforced by constrained decoding.
  case jsonSchema(name: String, schema: JSON)
}

/// The options chat and text completions share, validated.
public struct GenerationOptions: Sendable {
  public var maxTokens: Int?
  public var n = 1
  public var stream = false
  public var includeUsage = false
  public var stop: [String] = []
  public var sampling = SamplingParams()
  /// nil: no logprobs; k: the chosen token's logprob and the top k alternatives.
  public var logprobs: Int?
  public var user: String?
  public var responseFormat: ResponseFormat = .text

  /// Reads the fields chat and completions share, with OpenAI's defaults (temperature 1,
  /// top_p 1) and Hearth's extras (`top_k`, `min_p`, `repetition_penalty`) off unless given.
  init(_ r: FieldReader, limits: RequestLimits) throws(APIError) {
    stream = try r.bool("stream") ?? false
    if let so = try r.object("stream_options") {
      guard stream else { throw .invalid("stream_options", "'stream_options' is only allowed when 'stream' is true") }
      includeUsage = try so.bool("include_usage") ?? false
    }
    let maxT = try r.int("max_tokens", in: 1...limits.maxTokens)
    let maxC = try r.int("max_completion_tokens", in: 1...limits.maxTokens)
    maxTokens = maxC ?? maxT
    n = try r.int("n", in: 1...limits.maxN) ?? 1
    if let v = r.object["stop"], !v.isNull {
      if let s = v.string {
        stop = [s]
      } else if let a = v.array {
        stop = try a.enumerated().map { (i, x) throws(APIError) in
          guard let s = x.string else { throw .invalid("stop", "'stop[\(i)]' must be a string") }
          return s
        }
      } else {
        throw .invalid("stop", "'stop' must be a string or an array of strings")
      }
      guard stop.count <= limits.maxStop else { throw .invalid("stop", "'stop' may hold at most \(limits.maxStop) strings") }
      for s in stop where s.isEmpty || s.utf8.count > limits.maxStopLength {
        throw .invalid("stop", "each 'stop' string must be 1 to \(limits.maxStopLength) bytes")
      }
    }
    var s = SamplingParams()
    s.temperature = try r.number("temperature", in: 0...2) ?? 1
    s.topP = try r.number("top_p", in: 0...1) ?? 1
    if s.topP == 0 { s.temperature = 0 }  // OpenAI treats top_p 0 as greedy
    s.topK = try r.int("top_k", in: 0...1_000_000) ?? 0
    s.minP = try r.number("min_p", in: 0...1) ?? 0
    s.repetitionPenalty = try r.number("repetition_penalty", in: 0.01...10) ?? 1
    s.presencePenalty = try r.number("presence_penalty", in: -2...2) ?? 0
    s.frequencyPenalty = try r.number("frequency_penalty", in: -2...2) ?? 0
    s.penaltyWindow = -1  // OpenAI's penalties count every token generated so far
    if let seed = try r.int("seed") { s.seed = UInt64(bitPattern: Int64(seed)) }
    sampling = s
    user = try r.string("user")
  }

  /// `response_format`, shared by chat and completions.
  mutating func readResponseFormat(_ r: FieldReader) throws(APIError) {
    guard let rf = try r.object("response_format") else { return }
    switch try rf.requireString("type") {
    case "text": responseFormat = .text
    case "json_object": responseFormat = .jsonObject
    case "json_schema":
      guard let js = try rf.object("json_schema") else { throw .missing("response_format.json_schema") }
      let name = try js.string("name") ?? "response"
      guard let schema = js.object["schema"], schema.object != nil else { throw .missing("response_format.json_schema.schema") }
      responseFormat = .jsonSchema(name: name, schema: schema)
    case let other:
      throw .invalid("response_format.type", "'response_format.type' must be 'text', 'json_object' or 'json_schema', got '\(other)'")
    }
  }
}

/// `POST /v1/chat/completions`.
public struct ChatCompletionRequest: Sendable {
  public var model: String
  public var messages: [ChatMessage]
  public var options: GenerationOptions

  public init(json: JSON, limits: RequestLimits = RequestLimits()) throws(APIError) {
    let r = try FieldReader(json)
    model = try r.requireString("model")
    guard let list = try r.array("messages") else { throw .missing("messages") }
    guard !list.isEmpty else { throw .invalid("messages", "'messages' must not be empty") }
    guard list.count <= limits.maxMessages else { throw .invalid("messages", "'messages' may hold at most \(limits.maxMessages) entries") }
    messages = try list.enumerated().map { (i, m) throws(APIError) in try Self.message(m, index: i) }
    options = try GenerationOptions(r, limits: limits)
    if try r.bool("logprobs") == true {
      options.logprobs = try r.int("top_logprobs", in: 0...limits.maxTopLogprobs) ?? 0
    } else if r.has("top_logprobs") {
      throw .invalid("top_logprobs", "'top_logprobs' requires 'logprobs' to be true")
    }
    try options.readResponseFormat(r)
  }

  static let roles: Set<String> = ["system", "developer", "user", "assistant", "tool"]

  static func message(_ m: JSON, index i: Int) throws(APIError) -> ChatMessage {
    let r = try FieldReader(m, path: "messages[\(i)]")
    let role = try r.requireString("role")
    guard roles.contains(role) else {
      throw .invalid(r.name("role"), "'\(r.name("role"))' must be one of system, developer, user, assistant, tool; got '\(role)'")
    }
    var content = ""
    if let v = r.object["content"], !v.isNull {
      if let s = v.string {
        content = s
      } else if let parts = v.array {
        // Content parts: only text parts can reach a text model.
        for (j, p) in parts.enumerated() {
          let pr = try FieldReader(p, path: r.name("content[\(j)]"))
          let type = try pr.requireString("type")
          guard type == "text" else {
            throw .invalid(pr.name("type"), "'\(pr.name("type"))' is '\(type)'; this model accepts only text parts")
          }
          content += try pr.requireString("text")
        }
      } else {
        throw .invalid(r.name("content"), "'\(r.name("content"))' must be a string or an array of content parts")
      }
    } else if role != "assistant" {
      throw .missing(r.name("content"))
    }
    return ChatMessage(role: role == "developer" ? "system" : role, content: content)
  }
}

/// The prompt of a text completion: text, or token ids.
public enum CompletionPrompt: Sendable, Equatable {
  case text(String)
  case tokens([Int])
}

/// `POST /v1/completions`.
public struct CompletionRequest: Sendable {
  public var model: String
  public var prompts: [CompletionPrompt]
  public var echo: Bool
  public var options: GenerationOptions

  public init(json: JSON, limits: RequestLimits = RequestLimits()) throws(APIError) {
    let r = try FieldReader(json)
    model = try r.requireString("model")
    guard let p = r.object["prompt"], !p.isNull else { throw .missing("prompt") }
    prompts = try Self.prompts(p)
    guard prompts.count <= limits.maxN else { throw .invalid("prompt", "at most \(limits.maxN) prompts per request") }
    echo = try r.bool("echo") ?? false
    options = try GenerationOptions(r, limits: limits)
    if let lp = try r.int("logprobs", in: 0...5) { options.logprobs = lp }
    if r.has("suffix") { throw .invalid("suffix", "'suffix' (fill-in-the-middle) is not supported by these models") }
    if let best = try r.int("best_of", in: 1...limits.maxN), best != options.n {
      throw .invalid("best_of", "'best_of' other than n is not supported")
    }
    try options.readResponseFormat(r)
  }

  static func prompts(_ p: JSON) throws(APIError) -> [CompletionPrompt] {
    if let s = p.string { return [.text(s)] }
    guard let a = p.array, !a.isEmpty else { throw .invalid("prompt", "'prompt' must be a string, an array of strings, or token ids") }
    if a.allSatisfy({ $0.string != nil }) { return a.map { .text($0.string!) } }
    if a.allSatisfy({ $0.int != nil }) { return [.tokens(a.map { $0.int! })] }
    return try a.enumerated().map { (i, x) throws(APIError) in
      guard let ids = x.array, !ids.isEmpty, ids.allSatisfy({ $0.int != nil }) else {
        throw .invalid("prompt", "'prompt[\(i)]' must be an array of token ids")
      }
      return .tokens(ids.map { $0.int! })
    }
  }
}

/// `POST /v1/embeddings`.
public struct EmbeddingRequest: Sendable {
  public enum Input: Sendable, Equatable {
    case text(String)
    case tokens([Int])
  }

  public var model: String
  public var inputs: [Input]
  public var base64: Bool
  public var dimensions: Int?
  public var user: String?

  public init(json: JSON, limits: RequestLimits = RequestLimits()) throws(APIError) {
    let r = try FieldReader(json)
    model = try r.requireString("model")
    guard let v = r.object["input"], !v.isNull else { throw .missing("input") }
    if let s = v.string {
      inputs = [.text(s)]
    } else if let a = v.array, !a.isEmpty {
      if a.allSatisfy({ $0.string != nil }) {
        inputs = a.map { .text($0.string!) }
      } else if a.allSatisfy({ $0.int != nil }) {
        inputs = [.tokens(a.map { $0.int! })]
      } else if a.allSatisfy({ ($0.array?.allSatisfy { $0.int != nil }) ?? false }) {
        inputs = a.map { .tokens($0.array!.map { $0.int! }) }
      } else {
        throw .invalid("input", "'input' must be a string, an array of strings, or token ids")
      }
    } else {
      throw .invalid("input", "'input' must be a non-empty string or array")
    }
    guard inputs.count <= limits.maxEmbeddingInputs else {
      throw .invalid("input", "at most \(limits.maxEmbeddingInputs) inputs per request")
    }
    for (i, x) in inputs.enumerated() {
      if case .text(let s) = x, s.isEmpty { throw .invalid("input", "'input[\(i)]' must not be empty") }
      if case .tokens(let t) = x, t.isEmpty { throw .invalid("input", "'input[\(i)]' must not be empty") }
    }
    switch try r.string("encoding_format") ?? "float" {
    case "float": base64 = false
    case "base64": base64 = true
    case let other: throw .invalid("encoding_format", "'encoding_format' must be 'float' or 'base64', got '\(other)'")
    }
    dimensions = try r.int("dimensions", in: 1...65536)
    user = try r.string("user")
  }
}

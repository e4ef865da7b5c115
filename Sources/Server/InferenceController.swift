import Engine
import Foundation
import Hummingbird
import NIOCore
import ServingAPI
import Tokenizers

/// `/v1/chat/completions` and `/v1/completions`: validate, tokenize, submit `n` requests to the
/// model's engine, and answer as one JSON body or as server-sent events.
struct InferenceController {
  let state: AppState

  var fingerprint: String { "hearth-\(HearthVersion.string)" }

  func chat(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let caller = try context.caller()
    let json = try await state.readJSON(request)
    let req = try ChatCompletionRequest(json: json, limits: state.config.limits)
    let id = "chatcmpl-" + Self.randomID()
    let target = try await state.inferenceTarget(req.model, caller: caller, requestKey: id, user: json["user"]?.string)
    let (allowed, modelID, engine) = (target.allowed, target.modelID, target.engine)
    let model = engine.model
    let prompt: [Int]
    do { prompt = try model.chatTokens(req.messages) } catch {
      throw APIError.invalid("messages", "cannot render the chat template: \(error.description)", code: "template_error")
    }
    let gen = try makeRequests(prompt: prompt, options: req.options, engine: engine, param: "messages")
    let meter = try await state.admit(
      client: context.clientAddress,
      caller, allowedName: allowed, served: modelID, route: "/v1/chat/completions", prompt: json["messages"], promptTokens: prompt.count,
      version: target.served(responseID: id, state: state))
    let submitted: (ids: [Int], streams: [AsyncStream<GenerationEvent>])
    do { submitted = try submit(gen, to: engine, model: modelID) } catch {
      await meter.fail(error)
      throw error
    }
    let created = Int(Date().timeIntervalSince1970)
    let text: @Sendable (Int) -> [UInt8] = { model.tokenizer.tokenBytes($0) }
    let (messages, options) = (req.messages, req.options)
    // A shadow copy is tokenized by the shadow model itself: its vocabulary and template may differ.
    let shadowCopy: @Sendable (EngineService) throws -> GenerationRequest = { shadow in
      try makeRequests(prompt: try shadow.model.chatTokens(messages), options: options, engine: shadow, param: "messages")[0]
    }
    if req.options.stream {
      return target.tag(sse(engine: engine, ids: submitted.ids, model: modelID, meter: meter, promptTokens: prompt.count) { writer, tally in
        for i in 0..<gen.count {
          try await writer(Responses.chatChunk(id: id, created: created, model: modelID, index: i, role: true, content: "", fingerprint: fingerprint))
        }
        var first = ChoiceResult()  // choice 0 as streamed, for a shadow copy to be compared with
        for await (i, e) in mergeChoices(submitted.streams) {
          if i == 0 { first.apply(e) }
          switch e {
          case .token(_, let t, let lp):
            tally.token(choice: i)
            if t.isEmpty && lp == nil { continue }
            let lps = lp.map { [Responses.chatLogprob($0, text: text)] }
            try await writer(Responses.chatChunk(id: id, created: created, model: modelID, index: i, content: t, logprobs: lps, fingerprint: fingerprint))
          case .finished(let reason, let t, let u):
            if !t.isEmpty {
              try await writer(Responses.chatChunk(id: id, created: created, model: modelID, index: i, content: t, fingerprint: fingerprint))
            }
            tally.finished(choice: i, u)
            try await writer(Responses.chatChunk(id: id, created: created, model: modelID, index: i, finish: reason, fingerprint: fingerprint))
          case .failed(let m):
            try await writer(.obj([("error", .obj([("message", .string(m)), ("type", .string("server_error"))]))]))
          case .admitted: break
          }
        }
        if req.options.includeUsage {
          try await writer(Responses.usageChunk(id: id, created: created, model: modelID, object: "chat.completion.chunk", usage: tally.usage, fingerprint: fingerprint))
        }
        if first.done, first.failure == nil { state.mirror(target, responseID: id, primaryText: first.text, request: shadowCopy) }
      })
    }
    let results: [ChoiceResult]
    do { results = try await collect(submitted.streams, engine: engine, ids: submitted.ids) } catch {
      await meter.fail(error, promptTokens: prompt.count)
      throw error
    }
    var usage = Usage(promptTokens: prompt.count, completionTokens: results.reduce(0) { $0 + $1.usage.completionTokens })
    usage.cachedTokens = results.map(\.usage.cachedTokens).max() ?? 0
    try await meter.finish(status: 200, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
    let body = Responses.chatCompletion(
      id: id, created: created, model: modelID,
      choices: results.map { r in (r.text, r.finish, req.options.logprobs == nil ? nil : r.logprobs.map { Responses.chatLogprob($0, text: text) }) },
      usage: usage, fingerprint: fingerprint)
    state.mirror(target, responseID: id, primaryText: results[0].text, request: shadowCopy)
    return target.tag(state.json(body, model: modelID))
  }

  func completion(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let caller = try context.caller()
    let json = try await state.readJSON(request)
    let req = try CompletionRequest(json: json, limits: state.config.limits)
    let id = "cmpl-" + Self.randomID()
    let target = try await state.inferenceTarget(req.model, caller: caller, requestKey: id, user: json["user"]?.string)
    let (allowed, modelID, engine) = (target.allowed, target.modelID, target.engine)
    let model = engine.model
    guard req.prompts.count * req.options.n <= state.config.limits.maxN else {
      throw APIError.invalid("n", "prompts × n may be at most \(state.config.limits.maxN)")
    }
    var prompts: [[Int]] = []
    var promptTexts: [String] = []
    for p in req.prompts {
      switch p {
      case .text(let s):
        let ids = model.rawTokens(s)
        guard !ids.isEmpty else { throw APIError.invalid("prompt", "'prompt' must not be empty") }
        prompts.append(ids)
        promptTexts.append(s)
      case .tokens(let ids):
        if let bad = ids.first(where: { $0 < 0 || $0 >= model.config.vocabSize }) {
          throw APIError.invalid("prompt", "token id \(bad) is outside the vocabulary (0..<\(model.config.vocabSize))")
        }
        prompts.append(ids)
        promptTexts.append(model.tokenizer.decode(ids, skipSpecial: false))
      }
    }
    var gen: [GenerationRequest] = []
    var owners: [Int] = []  // prompt index of each choice
    for (pi, p) in prompts.enumerated() {
      let g = try makeRequests(prompt: p, options: req.options, engine: engine, param: "prompt")
      gen += g
      owners += Array(repeating: pi, count: g.count)
    }
    let promptTokens = prompts.reduce(0) { $0 + $1.count }
    let meter = try await state.admit(
      client: context.clientAddress,
      caller, allowedName: allowed, served: modelID, route: "/v1/completions", prompt: json["prompt"], promptTokens: promptTokens,
      version: target.served(responseID: id, state: state))
    let submitted: (ids: [Int], streams: [AsyncStream<GenerationEvent>])
    do { submitted = try submit(gen, to: engine, model: modelID) } catch {
      await meter.fail(error)
      throw error
    }
    let choiceOwners = owners, texts = promptTexts
    let created = Int(Date().timeIntervalSince1970)
    let text: @Sendable (Int) -> [UInt8] = { model.tokenizer.tokenBytes($0) }
    // A shadow copy of the first prompt, as text tokenized by the shadow model (token-id prompts were
    // decoded above: the shadow's vocabulary may differ).
    let options = req.options
    let shadowCopy: @Sendable (EngineService) throws -> GenerationRequest = { shadow in
      try makeRequests(prompt: shadow.model.rawTokens(texts[0]), options: options, engine: shadow, param: "prompt")[0]
    }
    if req.options.stream {
      return target.tag(sse(engine: engine, ids: submitted.ids, model: modelID, meter: meter, promptTokens: promptTokens) { writer, tally in
        if req.echo {
          for (i, o) in choiceOwners.enumerated() {
            try await writer(Responses.completionChunk(id: id, created: created, model: modelID, index: i, text: texts[o], fingerprint: fingerprint))
          }
        }
        var first = ChoiceResult()
        for await (i, e) in mergeChoices(submitted.streams) {
          if i == 0 { first.apply(e) }
          switch e {
          case .token(_, let t, let lp):
            tally.token(choice: i)
            if t.isEmpty && lp == nil { continue }
            let lps = lp.map { Responses.completionLogprobs([$0], text: text, startOffset: 0) }
            try await writer(Responses.completionChunk(id: id, created: created, model: modelID, index: i, text: t, logprobs: lps, fingerprint: fingerprint))
          case .finished(let reason, let t, let u):
            tally.finished(choice: i, u)
            try await writer(Responses.completionChunk(id: id, created: created, model: modelID, index: i, text: t, finish: reason, fingerprint: fingerprint))
          case .failed(let m):
            try await writer(.obj([("error", .obj([("message", .string(m)), ("type", .string("server_error"))]))]))
          case .admitted: break
          }
        }
        if req.options.includeUsage {
          try await writer(Responses.usageChunk(id: id, created: created, model: modelID, object: "text_completion", usage: tally.usage, fingerprint: fingerprint))
        }
        if first.done, first.failure == nil { state.mirror(target, responseID: id, primaryText: first.text, request: shadowCopy) }
      })
    }
    let results: [ChoiceResult]
    do { results = try await collect(submitted.streams, engine: engine, ids: submitted.ids) } catch {
      await meter.fail(error, promptTokens: promptTokens)
      throw error
    }
    let usage = Usage(promptTokens: promptTokens, completionTokens: results.reduce(0) { $0 + $1.usage.completionTokens })
    try await meter.finish(status: 200, promptTokens: usage.promptTokens, completionTokens: usage.completionTokens)
    let choices = results.enumerated().map { (i, r) -> (text: String, finish: FinishReason, logprobs: JSON?) in
      let prefix = req.echo ? promptTexts[owners[i]] : ""
      let lps = req.options.logprobs == nil ? nil : Responses.completionLogprobs(r.logprobs, text: text, startOffset: prefix.count)
      return (prefix + r.text, r.finish, lps)
    }
    state.mirror(target, responseID: id, primaryText: results[0].text, request: shadowCopy)
    return target.tag(state.json(Responses.completion(id: id, created: created, model: modelID, choices: choices, usage: usage, fingerprint: fingerprint), model: modelID))
  }

  // MARK: - Shared steps

  /// One generation request per choice, with the token budget checked against the context.
  func makeRequests(prompt: [Int], options o: GenerationOptions, engine: EngineService, param: String) throws(APIError) -> [GenerationRequest] {
    let window = engine.maxRequestTokens
    guard prompt.count < window else {
      throw APIError.invalid(param, "the prompt is \(prompt.count) tokens; this model's context holds \(window)", code: "context_length_exceeded")
    }
    let room = window - prompt.count
    let maxTokens: Int
    if let asked = o.maxTokens {
      guard asked <= room else {
        throw APIError.invalid(
          "max_tokens", "the prompt (\(prompt.count) tokens) plus max_tokens (\(asked)) exceeds the context of \(window) tokens",
          code: "context_length_exceeded")
      }
      maxTokens = asked
    } else {
      maxTokens = min(room, state.config.limits.maxTokens)
    }
    let model = engine.model
    let constraint = try Constraints.factory(for: o.responseFormat, tokenizer: model.tokenizer, maxTokens: maxTokens)
    return (0..<o.n).map { i in
      var s = o.sampling
      if let seed = s.seed { s.seed = seed &+ UInt64(i) }
      return GenerationRequest(
        prompt: prompt, sampling: s, maxTokens: maxTokens, stop: o.stop, stopTokens: model.tokenizer.eogIds, logprobs: o.logprobs,
        cacheScope: "", constraint: constraint)
    }
  }

  func submit(_ gen: [GenerationRequest], to engine: EngineService, model: String) throws(APIError) -> (ids: [Int], streams: [AsyncStream<GenerationEvent>]) {
    var ids: [Int] = [], streams: [AsyncStream<GenerationEvent>] = []
    for g in gen {
      do {
        let (id, s) = try engine.submit(g)
        ids.append(id)
        streams.append(s)
      } catch {
        for id in ids { engine.cancel(id) }
        switch error {
        case .overloaded(let after):
          state.metrics.requestFailure(model: model, reason: "overloaded")
          throw .overloaded(retryAfter: after)
        case .shuttingDown:
          throw .unavailable("the server is shutting down")
        }
      }
    }
    return (ids, streams)
  }

  /// Waits for every choice, cancelling them all if the request times out or the client leaves.
  func collect(_ streams: [AsyncStream<GenerationEvent>], engine: EngineService, ids: [Int]) async throws -> [ChoiceResult] {
    var results = [ChoiceResult](repeating: ChoiceResult(), count: streams.count)
    let timeout = state.config.requestTimeout
    let timer = Task {
      try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
      for id in ids { engine.cancel(id) }
    }
    defer { timer.cancel() }
    try await withTaskCancellationHandler {
      for await (i, e) in mergeChoices(streams) { results[i].apply(e) }
    } onCancel: {
      for id in ids { engine.cancel(id) }
    }
    if let f = results.first(where: { $0.failure != nil })?.failure {
      throw APIError.invalid("messages", f, code: "invalid_request")
    }
    if results.contains(where: { $0.finish == .cancelled }) {
      throw APIError(status: 504, message: "the request did not finish within \(Int(timeout)) s", type: "server_error", code: "timeout")
    }
    return results
  }

  /// A server-sent-event response. Writes go out as they are produced; when the client goes
  /// away (a write fails) or the request times out, every choice is cancelled. When the stream ends,
  /// either way, the request is settled with the tokens `produce` tallied.
  func sse(
    engine: EngineService, ids: [Int], model: String, meter: Metered, promptTokens: Int,
    _ produce: @escaping @Sendable (_ write: (JSON) async throws -> Void, _ tally: inout StreamTally) async throws -> Void
  ) -> Response {
    let timeout = state.config.requestTimeout
    let body = ResponseBody { writer in
      let timer = Task {
        try await Task.sleep(nanoseconds: UInt64(timeout * 1e9))
        for id in ids { engine.cancel(id) }
      }
      defer {
        timer.cancel()
        for id in ids { engine.cancel(id) }
      }
      var tally = StreamTally(promptTokens: promptTokens)
      do {
        try await produce({ json in try await writer.write(ByteBuffer(string: Responses.sse(json))) }, &tally)
      } catch {
        // 499: the client closed the request (nginx's code); it is counted for what it was sent.
        await meter.settleQuietly(status: 499, promptTokens: promptTokens, completionTokens: tally.completionTokens)
        throw error
      }
      // Settled before the final event, so a client that has read [DONE] finds the call in the audit trail.
      await meter.settleQuietly(status: 200, promptTokens: promptTokens, completionTokens: tally.completionTokens)
      try await writer.write(ByteBuffer(string: Responses.sseDone))
      try await writer.finish(nil)
    }
    var headers = HTTPFields()
    headers[.contentType] = "text/event-stream"
    headers[.cacheControl] = "no-cache"
    headers[.hearthModel] = model
    return Response(status: .ok, headers: headers, body: body)
  }

  static func randomID() -> String {
    var g = SystemRandomNumberGenerator()
    return (0..<24).map { _ in String("0123456789abcdefghijklmnopqrstuvwxyz".randomElement(using: &g)!) }.joined()
  }
}

import Engine
import Foundation
import Testing

@testable import ServingAPI

private func chat(_ body: String) throws(APIError) -> ChatCompletionRequest {
  try ChatCompletionRequest(json: JSON.parse(Data(body.utf8)))
}

private func expectParam(_ body: String, _ param: String, sourceLocation: SourceLocation = #_sourceLocation) {
  do {
    _ = try chat(body)
    Issue.record("expected an error naming \(param)", sourceLocation: sourceLocation)
  } catch {
    #expect(error.status == 400, sourceLocation: sourceLocation)
    #expect(error.param == param, "\(error)", sourceLocation: sourceLocation)
  }
}

@Suite struct JSONParserTests {
  @Test func parsesValues() throws {
    let j = try JSON.parse(Data(#"{"a":[1,2.5,-3e2,true,false,null],"b":"x\u00e9\ud83e\udd99\n"}"#.utf8))
    #expect(j["a"] == .array([.number(1), .number(2.5), .number(-300), .bool(true), .bool(false), .null]))
    #expect(j["b"]?.string == "xé🦙\n")
  }

  @Test(arguments: ["", "{", "[1,]", "{\"a\":1,}", "{\"a\":1 \"b\":2}", "tru", "\"\\x\"", "01x", "{\"a\":1}{}", "\"\\ud800\"",
                    "{\"a\":1,\"a\":2}", "\"\u{01}\""])
  func rejectsMalformed(_ s: String) {
    #expect(throws: APIError.self) { try JSON.parse(Data(s.utf8)) }
  }

  @Test func boundsDepth() {
    let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
    #expect(throws: APIError.self) { try JSON.parse(Data(deep.utf8)) }
    #expect((try? JSON.parse(Data("[[[]]]".utf8))) != nil)
  }

  @Test func roundTripsText() throws {
    let s = #"{"b":[1,"q\"\\",null],"a":true}"#
    #expect(try JSON.parse(Data(s.utf8)).text == s)
  }
}

@Suite struct ChatRequestTests {
  @Test func readsAllFields() throws {
    let r = try chat("""
      {"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"hi"}]}],
       "stream":true,"stream_options":{"include_usage":true},"max_completion_tokens":7,"temperature":0.5,"top_p":0.9,
       "n":2,"stop":["x","y"],"seed":42,"presence_penalty":0.5,"frequency_penalty":-0.5,"logprobs":true,"top_logprobs":3,
       "user":"u1","top_k":20,"min_p":0.1,"repetition_penalty":1.1,"response_format":{"type":"json_object"}}
      """)
    #expect(r.model == "m")
    #expect(r.messages == [ChatMessage(role: "system", content: "s"), ChatMessage(role: "user", content: "hi")])
    #expect(r.options.stream && r.options.includeUsage)
    #expect(r.options.maxTokens == 7)
    #expect(r.options.n == 2)
    #expect(r.options.stop == ["x", "y"])
    #expect(r.options.sampling.temperature == 0.5 && r.options.sampling.topP == 0.9 && r.options.sampling.topK == 20)
    #expect(r.options.sampling.seed == 42)
    #expect(r.options.logprobs == 3)
    #expect(r.options.user == "u1")
    #expect(r.options.responseFormat == .jsonObject)
  }

  @Test func openAIDefaults() throws {
    let r = try chat(#"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#)
    #expect(r.options.sampling.temperature == 1 && r.options.sampling.topP == 1)
    #expect(r.options.sampling.topK == 0 && r.options.sampling.minP == 0)
    #expect(r.options.n == 1 && !r.options.stream && r.options.logprobs == nil && r.options.maxTokens == nil)
  }

  @Test func namesTheBadField() {
    expectParam(#"{"messages":[{"role":"user","content":"hi"}]}"#, "model")
    expectParam(#"{"model":"m"}"#, "messages")
    expectParam(#"{"model":"m","messages":[]}"#, "messages")
    expectParam(#"{"model":"m","messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role")
    expectParam(#"{"model":"m","messages":[{"role":"user"}]}"#, "messages[0].content")
    expectParam(#"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}"#, "messages[0].content[0].type")
    let ok = #""model":"m","messages":[{"role":"user","content":"x"}]"#
    expectParam("{\(ok),\"temperature\":3}", "temperature")
    expectParam("{\(ok),\"temperature\":\"hot\"}", "temperature")
    expectParam("{\(ok),\"top_p\":1.5}", "top_p")
    expectParam("{\(ok),\"n\":0}", "n")
    expectParam("{\(ok),\"n\":1000}", "n")
    expectParam("{\(ok),\"max_tokens\":0}", "max_tokens")
    expectParam("{\(ok),\"max_tokens\":1.5}", "max_tokens")
    expectParam("{\(ok),\"max_tokens\":100000000}", "max_tokens")
    expectParam("{\(ok),\"stop\":[1]}", "stop")
    expectParam("{\(ok),\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", "stop")
    expectParam("{\(ok),\"top_logprobs\":3}", "top_logprobs")
    expectParam("{\(ok),\"logprobs\":true,\"top_logprobs\":50}", "top_logprobs")
    expectParam("{\(ok),\"presence_penalty\":5}", "presence_penalty")
    expectParam("{\(ok),\"stream_options\":{\"include_usage\":true}}", "stream_options")
    expectParam("{\(ok),\"response_format\":{\"type\":\"xml\"}}", "response_format.type")
    expectParam("{\(ok),\"response_format\":{\"type\":\"json_schema\"}}", "response_format.json_schema")
  }

  @Test func errorBodyHasOpenAIShape() throws {
    let e = APIError.invalid("temperature", "bad")
    let body = try JSON.parse(e.body)
    #expect(body["error"]?["message"]?.string == "bad")
    #expect(body["error"]?["type"]?.string == "invalid_request_error")
    #expect(body["error"]?["param"]?.string == "temperature")
    #expect(body["error"]?["code"]?.string == "invalid_value")
    #expect(try JSON.parse(APIError.modelNotFound("x").body)["error"]?["param"]?.string == "model")
    #expect(try JSON.parse(APIError.tooLarge(limit: 1).body)["error"]?["param"] == .null)
  }
}

@Suite struct CompletionAndEmbeddingRequestTests {
  @Test func promptForms() throws {
    func prompts(_ p: String) throws -> [CompletionPrompt] {
      try CompletionRequest(json: JSON.parse(Data("{\"model\":\"m\",\"prompt\":\(p)}".utf8))).prompts
    }
    #expect(try prompts("\"hi\"") == [.text("hi")])
    #expect(try prompts("[\"a\",\"b\"]") == [.text("a"), .text("b")])
    #expect(try prompts("[1,2,3]") == [.tokens([1, 2, 3])])
    #expect(try prompts("[[1],[2,3]]") == [.tokens([1]), .tokens([2, 3])])
    #expect(throws: APIError.self) { try prompts("[]") }
    #expect(throws: APIError.self) { try prompts("[1,\"a\"]") }
    #expect(throws: APIError.self) { try prompts("5") }
  }

  @Test func completionLogprobsRange() throws {
    #expect(throws: APIError.self) { try CompletionRequest(json: JSON.parse(Data(#"{"model":"m","prompt":"x","logprobs":9}"#.utf8))) }
    let r = try CompletionRequest(json: JSON.parse(Data(#"{"model":"m","prompt":"x","logprobs":2,"echo":true}"#.utf8)))
    #expect(r.options.logprobs == 2 && r.echo)
  }

  @Test func embeddingInputs() throws {
    func inputs(_ i: String) throws -> [EmbeddingRequest.Input] {
      try EmbeddingRequest(json: JSON.parse(Data("{\"model\":\"m\",\"input\":\(i)}".utf8))).inputs
    }
    #expect(try inputs("\"a\"") == [.text("a")])
    #expect(try inputs("[\"a\",\"b\"]") == [.text("a"), .text("b")])
    #expect(try inputs("[5,6]") == [.tokens([5, 6])])
    #expect(try inputs("[[5],[6]]") == [.tokens([5]), .tokens([6])])
    #expect(throws: APIError.self) { try inputs("\"\"") }
    #expect(throws: APIError.self) { try inputs("[]") }
    #expect(throws: APIError.self) {
      try EmbeddingRequest(json: JSON.parse(Data(#"{"model":"m","input":"a","encoding_format":"hex"}"#.utf8)))
    }
  }

  @Test func sseFraming() {
    #expect(Responses.sse(.obj([("a", .int(1))])) == "data: {\"a\":1}\n\n")
    #expect(Responses.sseDone == "data: [DONE]\n\n")
  }
}

import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import Testing

@testable import Server
@testable import ServingAPI

enum TestModels {
  static var dir: String {
    ProcessInfo.processInfo.environment["HEARTH_MODELS"]
      ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models").standardized.path
  }
  static var smol: String { dir + "/SmolLM2-135M-Instruct.Q4_1.gguf" }
  static var minilm: String { dir + "/all-minilm-l6-v2" }
}

func testConfig(_ mutate: (inout ServerConfig) -> Void = { _ in }) -> ServerConfig {
  var c = ServerConfig()
  c.port = 0
  c.models = [ServerConfig.ModelSpec(name: "smol", path: TestModels.smol)]
  c.aliases = ["default": "smol"]
  c.kvTokens = 4096
  c.threads = 2
  c.preloadFirst = false
  mutate(&c)
  return c
}

func quietLogger() -> Logger {
  var l = Logger(label: "test")
  l.logLevel = .error
  return l
}

func body(_ s: String) -> ByteBuffer { ByteBuffer(string: s) }

func parse(_ b: ByteBuffer) throws -> JSON { try JSON.parse(Data(b.readableBytesView)) }

@Suite(.serialized) struct ServerTests {
  @Test func healthAndModels() async throws {
    #expect(FileManager.default.fileExists(atPath: TestModels.smol), "run scripts/fetch-models")
    let (server, _, auth) = try await makeServer(testConfig())
    try await server.app.test(.router) { client in
      do {
        let r = try await client.execute(uri: "/health/live", method: .get); #expect(r.status == .ok) }
      do {
        let r = try await client.execute(uri: "/health/ready", method: .get); #expect(r.status == .ok) }
      do {
        let r = try await client.execute(uri: "/v1/models", method: .get, headers: auth)
        #expect(r.status == .ok)
        let j = try parse(r.body)
        #expect(j["object"]?.string == "list")
        let ids = j["data"]?.array?.compactMap { $0["id"]?.string } ?? []
        #expect(ids.contains("smol") && ids.contains("default"))
      }
      do {
        let r = try await client.execute(uri: "/v1/models/default", method: .get, headers: auth)
        #expect(try parse(r.body)["id"]?.string == "smol")
      }
      do {
        let r = try await client.execute(uri: "/v1/models/nope", method: .get, headers: auth)
        #expect(r.status == .notFound)
        #expect(try parse(r.body)["error"]?["code"]?.string == "model_not_found")
      }
    }
  }

  @Test func chatCompletionIsDeterministicAtTemperatureZero() async throws {
    let (server, _, auth) = try await makeServer(testConfig())
    let req = #"{"model":"default","messages":[{"role":"user","content":"What is the capital of France?"}],"temperature":0,"max_tokens":12}"#
    try await server.app.test(.router) { client in
      var texts: [String] = []
      for _ in 0..<2 {
        do {
        let r = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: auth, body: body(req))
          #expect(r.status == .ok)
          #expect(r.headers[.hearthModel] == "smol")
          let j = try parse(r.body)
          #expect(j["object"]?.string == "chat.completion")
          #expect(j["model"]?.string == "smol")
          let choice = j["choices"]?.array?.first
          #expect(choice?["message"]?["role"]?.string == "assistant")
          #expect(["stop", "length"].contains(choice?["finish_reason"]?.string ?? ""))
          let usage = j["usage"]
          #expect((usage?["prompt_tokens"]?.int ?? 0) > 5)
          #expect((usage?["completion_tokens"]?.int ?? 0) >= 1)
          #expect(usage?["total_tokens"]?.int == (usage?["prompt_tokens"]?.int ?? 0) + (usage?["completion_tokens"]?.int ?? 0))
          texts.append(choice?["message"]?["content"]?.string ?? "")
        }
      }
      #expect(texts[0] == texts[1])
      #expect(texts[0].contains("Paris"))
    }
  }

  @Test func completionsWithNAndStopAndLogprobs() async throws {
    let (server, _, auth) = try await makeServer(testConfig())
    let req = #"{"model":"smol","prompt":"1, 2, 3, 4,","max_tokens":8,"temperature":0,"n":2,"stop":[" 7"],"logprobs":2}"#
    try await server.app.test(.router) { client in
      do {
        let r = try await client.execute(uri: "/v1/completions", method: .post, headers: auth, body: body(req))
        #expect(r.status == .ok)
        let j = try parse(r.body)
        let choices = j["choices"]?.array ?? []
        #expect(choices.count == 2)
        for c in choices {
          let text = c["text"]?.string ?? ""
          #expect(!text.contains(" 7"))
          #expect(c["logprobs"]?["tokens"]?.array?.isEmpty == false)
          #expect(c["logprobs"]?["top_logprobs"]?.array?.first?.object?.count ?? 0 >= 1)
        }
        #expect(choices[0]["text"] == choices[1]["text"])
      }
    }
  }

  @Test func errorsHaveOpenAIShapeAndStatus() async throws {
    let (server, _, auth) = try await makeServer(testConfig { $0.maxBodyBytes = 2048 })
    try await server.app.test(.router) { client in
      func expectError(_ uri: String, _ b: String, status: HTTPResponse.Status, param: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
        do {
        let r = try await client.execute(uri: uri, method: .post, headers: auth, body: body(b))
          #expect(r.status == status, sourceLocation: sourceLocation)
          let e = try parse(r.body)["error"]
          #expect(e?["message"]?.string?.isEmpty == false, sourceLocation: sourceLocation)
          #expect(e?["type"]?.string != nil, sourceLocation: sourceLocation)
          if let param { #expect(e?["param"]?.string == param, sourceLocation: sourceLocation) }
        }
      }
      try await expectError("/v1/chat/completions", "{not json", status: .badRequest)
      try await expectError("/v1/chat/completions", #"{"model":"smol"}"#, status: .badRequest, param: "messages")
      try await expectError("/v1/chat/completions", #"{"model":"smol","messages":[{"role":"user","content":"x"}],"temperature":9}"#, status: .badRequest, param: "temperature")
      try await expectError("/v1/chat/completions", #"{"model":"gpt-4","messages":[{"role":"user","content":"x"}]}"#, status: .notFound, param: "model")
      try await expectError("/v1/chat/completions", #"{"model":"smol","messages":[{"role":"user","content":"x"}],"max_tokens":100000}"#, status: .badRequest, param: "max_tokens")
      try await expectError("/v1/completions", #"{"model":"smol","prompt":[1,2,99999999]}"#, status: .badRequest, param: "prompt")
      let big = "{\"model\":\"smol\",\"prompt\":\"" + String(repeating: "a", count: 5000) + "\"}"
      try await expectError("/v1/completions", big, status: .contentTooLarge)
      do {
        let r = try await client.execute(uri: "/v1/nothing", method: .get)
        #expect(r.status == .notFound)
        #expect(try parse(r.body)["error"]?["message"]?.string != nil)
      }
    }
  }

  @Test func metricsExposeVLLMStyleNames() async throws {
    let (server, _, auth) = try await makeServer(testConfig())
    try await server.app.test(.router) { client in
      let req = #"{"model":"smol","messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0}"#
      do {
        let r = try await client.execute(uri: "/v1/chat/completions", method: .post, headers: auth, body: body(req)); #expect(r.status == .ok) }
      _ = try await client.execute(uri: "/v1/models/xyz-123", method: .get, headers: auth)
      do {
        let r = try await client.execute(uri: "/metrics", method: .get, headers: auth)
        let text = String(buffer: r.body)
        for name in [
          "hearth_num_requests_running", "hearth_num_requests_waiting", "hearth_kv_cache_usage_ratio", "hearth_prompt_tokens_total",
          "hearth_generation_tokens_total", "hearth_request_success_total", "hearth_time_to_first_token_seconds",
          "hearth_inter_token_latency_seconds", "hearth_e2e_request_latency_seconds", "hearth_request_queue_time_seconds",
          "hearth_http_request_duration_seconds", "hearth_prefix_cache_queries_total",
        ] {
          #expect(text.contains(name), "missing \(name)")
        }
        #expect(text.contains("model=\"smol\""))
        #expect(text.contains("route=\"/v1/models/{model}\""))
        #expect(!text.contains("xyz-123"))
      }
    }
  }

  @Test func embeddingsFromEncoderAndDecoder() async throws {
    let config = testConfig { $0.models.append(ServerConfig.ModelSpec(name: "minilm", path: TestModels.minilm)) }
    let (server, _, auth) = try await makeServer(config)
    try await server.app.test(.router) { client in
      do {
        let r = try await client.execute(
          uri: "/v1/embeddings", method: .post, headers: auth,
          body: body(#"{"model":"minilm","input":["A cat sits on the mat.","A kitten rests on a rug.","Interest rates rose."]}"#))
        #expect(r.status == .ok)
        #expect(r.headers[.hearthEmbedding] == "encoder")
        let j = try parse(r.body)
        let vectors = (j["data"]?.array ?? []).map { ($0["embedding"]?.array ?? []).compactMap(\.number) }
        #expect(vectors.count == 3 && vectors.allSatisfy { $0.count == 384 })
        func dot(_ a: [Double], _ b: [Double]) -> Double { zip(a, b).reduce(0) { $0 + $1.0 * $1.1 } }
        #expect(abs(dot(vectors[0], vectors[0]) - 1) < 1e-4)
        #expect(dot(vectors[0], vectors[1]) > dot(vectors[0], vectors[2]))
        #expect((j["usage"]?["prompt_tokens"]?.int ?? 0) > 6)
      }
      do {
        let r = try await client.execute(
          uri: "/v1/embeddings", method: .post, headers: auth, body: body(#"{"model":"smol","input":"hello","encoding_format":"base64"}"#))
        #expect(r.status == .ok)
        #expect(r.headers[.hearthEmbedding] == "decoder-pooled")
        let b64 = try parse(r.body)["data"]?.array?.first?["embedding"]?.string ?? ""
        #expect(Data(base64Encoded: b64)?.count == 576 * 4)
      }
      do {
        let r = try await client.execute(
          uri: "/v1/chat/completions", method: .post, headers: auth, body: body(#"{"model":"minilm","messages":[{"role":"user","content":"x"}]}"#))
        #expect(r.status == .badRequest)
        #expect(try parse(r.body)["error"]?["code"]?.string == "model_not_generative")
      }
      do {
        let r = try await client.execute(
          uri: "/v1/embeddings", method: .post, headers: auth, body: body(#"{"model":"minilm","input":"x","dimensions":12}"#))
        #expect(r.status == .badRequest)
      }
    }
  }
}

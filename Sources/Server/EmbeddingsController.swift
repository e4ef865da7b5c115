import Engine
import Foundation
import Hummingbird
import ServingAPI

/// `POST /v1/embeddings`: an encoder model's sentence vectors, or (marked by the
/// `X-Hearth-Embedding` header) a decoder's mean-pooled hidden states.
struct EmbeddingsController {
  let state: AppState

  func embed(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let caller = try context.caller()
    let json = try await state.readJSON(request)
    let req = try EmbeddingRequest(json: json, limits: state.config.limits)
    let allowed = try await state.allowedModelName(req.model, for: caller)
    let (id, service) = try await state.manager.embedder(for: req.model)
    let embedder = service.embedder
    var seqs: [[Int]] = []
    for (i, input) in req.inputs.enumerated() {
      switch input {
      case .text(let s): seqs.append(embedder.tokenize([s])[0])
      case .tokens(let t):
        guard t.count <= embedder.maxTokens else {
          throw APIError.invalid("input", "'input[\(i)]' has \(t.count) tokens; this model takes at most \(embedder.maxTokens)")
        }
        if let bad = t.first(where: { $0 < 0 || $0 >= embedder.tokenizer.vocabSize }) {
          throw APIError.invalid("input", "token id \(bad) in 'input[\(i)]' is outside the vocabulary")
        }
        seqs.append(t)
      }
    }
    if let d = req.dimensions, d != embedder.dimension {
      throw APIError.invalid("dimensions", "'\(id)' produces \(embedder.dimension)-dimensional vectors; 'dimensions' must be \(embedder.dimension) or absent")
    }
    let meter = try await state.admit(
      client: context.clientAddress,
      caller, allowedName: allowed, served: id, route: "/v1/embeddings", prompt: json["input"], promptTokens: seqs.reduce(0) { $0 + $1.count })
    let result: EmbeddingResult
    do { result = try await service.embed(tokens: seqs) } catch {
      let e = APIError.invalid("input", "\(error)", code: "embedding_failed")
      await meter.fail(e)
      throw e
    }
    try await meter.finish(status: 200, promptTokens: result.totalTokens, completionTokens: 0)
    var response = state.json(Responses.embeddings(model: id, vectors: result.vectors, base64: req.base64, promptTokens: result.totalTokens), model: id)
    response.headers[.hearthEmbedding] = embedder.kind.rawValue
    return response
  }
}

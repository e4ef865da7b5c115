import Foundation
import Hummingbird
import ServingAPI

/// `GET /v1/models` and `GET /v1/models/{model}`, in OpenAI's shape plus Hearth's details.
struct ModelsController {
  let state: AppState

  func entry(_ m: ModelManager.Info) -> JSON {
    .obj([
      ("id", .string(m.id)), ("object", .string("model")), ("created", .int(m.created)), ("owned_by", .string("hearth")),
      ("loaded", .bool(m.loaded)), ("pinned", .bool(m.pinned)),
    ])
  }

  func list(_ request: Request, context: some RequestContext) async throws -> Response {
    let models = await state.manager.list()
    var data = models.map(entry)
    for (alias, target) in await state.manager.aliasList() {
      data.append(.obj([("id", .string(alias)), ("object", .string("model")), ("created", .int(0)), ("owned_by", .string("hearth")), ("alias_of", .string(target))]))
    }
    return state.json(.obj([("object", .string("list")), ("data", .array(data))]))
  }

  func get(_ request: Request, context: some RequestContext) async throws -> Response {
    let name = context.parameters.get("model") ?? ""
    guard let id = await state.manager.resolve(name), let m = await state.manager.list().first(where: { $0.id == id }) else {
      throw APIError.modelNotFound(name)
    }
    return state.json(entry(m))
  }
}

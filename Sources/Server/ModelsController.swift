import ControlPlane
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

  /// A deployment of the caller's tenant, listed as a model: clients call it by this name.
  func entry(_ d: Deployment) -> JSON {
    .obj([
      ("id", .string(d.name)), ("object", .string("model")), ("created", .int(Int(d.createdAt.timeIntervalSince1970))),
      ("owned_by", .string("hearth")), ("deployment", .string(d.state.summary)),
    ])
  }

  func deployments(_ caller: Principal) -> [Deployment] {
    (state.deployments.table.get()[caller.tenantID] ?? [:]).values.filter { caller.mayUse(model: $0.name) }.sorted { $0.name < $1.name }
  }

  /// Only the models the key may call: listing the others would tell a restricted key what it cannot use.
  func list(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let caller = try context.caller()
    let models = await state.manager.list().filter { caller.mayUse(model: $0.id) }
    var data = models.map(entry) + deployments(caller).map(entry)
    for (alias, target) in await state.manager.aliasList() where caller.mayUse(model: alias) || caller.mayUse(model: target) {
      data.append(.obj([("id", .string(alias)), ("object", .string("model")), ("created", .int(0)), ("owned_by", .string("hearth")), ("alias_of", .string(target))]))
    }
    return state.json(.obj([("object", .string("list")), ("data", .array(data))]))
  }

  func get(_ request: Request, context: HearthRequestContext) async throws -> Response {
    let caller = try context.caller()
    let name = context.parameters.get("model") ?? ""
    if let d = deployments(caller).first(where: { $0.name == name }) { return state.json(entry(d)) }
    // A model outside the key's allowlist is answered as unknown, like in inference.
    guard let id = await state.manager.resolve(name), caller.mayUse(model: name) || caller.mayUse(model: id), let m = await state.manager.list().first(where: { $0.id == id }) else {
      throw APIError.modelNotFound(name)
    }
    return state.json(entry(m))
  }
}

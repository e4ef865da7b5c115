import ControlPlane
import Engine
import Foundation
import Logging
import ServingAPI

/// One admitted inference request: what `ControlPlaneServices.finishInference` needs to settle it
/// (free its rate-limit slot, count its tokens, write its audit record) once it ends.
struct Metered: Sendable {
  let controlPlane: ControlPlaneServices
  let principal: Principal
  let admission: Admission
  let route: String
  let model: String
  let prompt: Data
  let start: Date
  /// The caller's address, for the audit record.
  let client: String?
  let logger: Logger
  /// Set when a deployment routed the request: its version goes into the audit record and the
  /// request into the deployment's log.
  var served: ServedVersion? = nil

  /// Settles the request. Under the fail-closed audit policy this throws `AuditError` when the record
  /// cannot be written, and a non-streaming caller then answers 503 instead of the result.
  ///
  /// It runs in a task of its own: a client that hangs up cancels the request's task, and the record
  /// of what it consumed must still be written.
  func finish(status: Int, promptTokens: Int, completionTokens: Int) async throws {
    served?.record(status: status, start: start, promptTokens: promptTokens, completionTokens: completionTokens)
    let call = InferenceCall(
      time: start, route: route, model: model, modelVersion: served?.routed.choice.serve.description, status: status,
      promptTokens: promptTokens, completionTokens: completionTokens, latencyMicros: Int64(Date().timeIntervalSince(start) * 1e6),
      client: client, prompt: prompt)
    let (cp, admission, principal) = (controlPlane, admission, principal)
    _ = try await Task { try await cp.finishInference(admission, call, by: principal) }.value
  }

  /// Settles a request that failed with `error` after admission. The error the client sees is the
  /// request's own, so a failure to audit it is logged rather than thrown over it.
  func fail(_ error: any Error, promptTokens: Int = 0) async {
    let status = (error as? APIError)?.status ?? APIError.controlPlane(error)?.status ?? 500
    await settleQuietly(status: status, promptTokens: promptTokens, completionTokens: 0)
  }

  /// Settles a request whose response has already started (a stream): its status can no longer change,
  /// so an audit failure can only be logged.
  func settleQuietly(status: Int, promptTokens: Int, completionTokens: Int) async {
    do { try await finish(status: status, promptTokens: promptTokens, completionTokens: completionTokens) } catch {
      logger.error("inference not recorded", metadata: ["actor": .string(principal.actor), "model": .string(model), "error": .string("\(error)")])
    }
  }
}

/// Token counts of a streamed response as it goes, so a stream cut short is still counted for what it
/// produced.
struct StreamTally: Sendable {
  var usage: Usage
  /// Tokens sent so far by choices that have not finished yet.
  var pending: [Int: Int] = [:]

  init(promptTokens: Int) { usage = Usage(promptTokens: promptTokens, completionTokens: 0) }

  mutating func token(choice: Int) { pending[choice, default: 0] += 1 }

  /// A finished choice's own count replaces the tokens tallied for it.
  mutating func finished(choice: Int, _ u: Usage) {
    pending[choice] = nil
    usage.completionTokens += u.completionTokens
    usage.cachedTokens = max(usage.cachedTokens, u.cachedTokens)
  }

  var completionTokens: Int { usage.completionTokens + pending.values.reduce(0, +) }
}

extension AppState {
  /// The name under which the caller may use `requested`: itself, or the model it is an alias of. A
  /// model outside the key's allowlist answers exactly like a model that does not exist, so a key
  /// cannot learn what else is served. Checked before the model is loaded.
  func allowedModelName(_ requested: String, for p: Principal) async throws -> String {
    if p.mayUse(model: requested) { return requested }
    if let id = await manager.resolve(requested), p.mayUse(model: id) { return id }
    throw APIError.modelNotFound(requested)
  }

  /// Admits a request against the caller's permission, allowlist, budget and rate limits, with its
  /// prompt tokens as the estimate. Throws `QuotaError` (429) when over a limit.
  func admit(
    client: String?, _ p: Principal, allowedName: String, served model: String, route: String, prompt: JSON?, promptTokens: Int,
    version: ServedVersion? = nil
  ) async throws -> Metered {
    let admission: Admission
    do {
      admission = try await controlPlane.admitInference(p, model: allowedName, promptTokens: promptTokens)
    } catch ControlPlaneError.notFound(_) {
      throw APIError.modelNotFound(allowedName)
    }
    return Metered(
      controlPlane: controlPlane, principal: p, admission: admission, route: route, model: model, prompt: Data((prompt?.text ?? "").utf8),
      start: Date(), client: client, logger: logger, served: version)
  }
}

import ControlPlane
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import ServingAPI

/// The request context of every Hearth route: Hummingbird's core storage plus the caller that
/// `AuthMiddleware` authenticated. It stays nil only on the public routes (health, and metrics when
/// `--public-metrics` is given).
public struct HearthRequestContext: RequestContext {
  public var coreContext: CoreRequestContextStorage
  public var principal: Principal?
  /// The peer's IP address, for audit records (nil when the channel has none, as in router tests).
  public let clientAddress: String?

  public init(source: ApplicationRequestContextSource) {
    coreContext = .init(source: source)
    principal = nil
    clientAddress = source.channel.remoteAddress?.ipAddress
  }
}

extension HTTPField.Name {
  /// The header some clients (Anthropic-style SDKs, curl users) send instead of `Authorization`.
  static let xAPIKey = Self("x-api-key")!
}

/// Authenticates the caller by API key and requires one permission: each route group of the router
/// carries one of these, so a route is protected by where it is registered, not by remembering to
/// check in its handler. Every refusal is an `APIError`, so `APIErrorMiddleware` shapes it.
struct AuthMiddleware: RouterMiddleware {
  typealias Context = HearthRequestContext
  let keys: KeyService
  let sessions: SessionService
  let permission: Permission

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    guard let presented = Self.presentedKey(request.headers) else {
      throw APIError.unauthorized("no API key given: send 'Authorization: Bearer <key>'")
    }
    let principal: Principal
    do {
      // Directory logins carry a session token (`hs_...`) instead of a key; both authorize alike.
      if presented.hasPrefix(SessionService.prefix) {
        principal = try sessions.verify(presented)
      } else {
        principal = try await keys.verify(presented)
      }
    } catch is KeyVerifyError {
      // One answer for unknown, revoked, expired and wrong keys, so a caller cannot probe which key ids
      // exist. KeyService has already logged the reason with the key id (never the secret).
      throw APIError.unauthorized("invalid API key")
    }
    guard principal.can(permission) else { throw APIError.permissionDenied(permission) }
    var context = context
    context.principal = principal
    return try await next(request, context)
  }

  /// The key from `Authorization: Bearer <key>` (scheme case-insensitive, as RFC 7235 says) or
  /// `x-api-key: <key>`; nil when neither carries one.
  static func presentedKey(_ headers: HTTPFields) -> String? {
    if let auth = headers[.authorization] {
      let parts = auth.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
      if parts.count == 2, parts[0].lowercased() == "bearer" {
        let key = parts[1].trimmingCharacters(in: .whitespaces)
        return key.isEmpty ? nil : key
      }
      return nil
    }
    if let key = headers[.xAPIKey]?.trimmingCharacters(in: .whitespaces), !key.isEmpty { return key }
    return nil
  }
}

extension HearthRequestContext {
  /// The authenticated caller. Handlers behind `AuthMiddleware` always have one; a handler registered
  /// on a public path by mistake fails closed here instead of serving anonymously.
  func caller() throws -> Principal {
    guard let principal else { throw APIError.unauthorized() }
    return principal
  }
}

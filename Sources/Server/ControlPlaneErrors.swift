import ControlPlane
import ServingAPI

extension APIError {
  /// 403: the key is valid but its role lacks the route's permission.
  static func permissionDenied(_ p: Permission) -> APIError {
    APIError(status: 403, message: "this API key lacks the '\(p.rawValue)' permission", type: "permission_error", code: "permission_denied")
  }

  /// The API error for an error of the control plane, or nil for any other error. Kept in one place so
  /// a quota, a refused key or an unwritable audit trail answer alike on every route.
  static func controlPlane(_ error: any Error) -> APIError? {
    switch error {
    case is KeyVerifyError:
      return .unauthorized("invalid API key")
    case let e as QuotaError:
      return APIError(status: 429, message: e.description, type: "rate_limit_error", code: "rate_limit_exceeded", retryAfter: e.retryAfter)
    case let e as AuditError:
      // Fail-closed policy: nothing is served that the audit trail could not record.
      return .unavailable(e.description)
    case let e as ControlPlaneError:
      switch e {
      case .forbidden(let p): return .permissionDenied(p)
      case .notFound: return .notFound(e.description)
      case .invalid(let m): return APIError(status: 400, message: m, type: "invalid_request_error", code: "invalid_value")
      case .conflict(let m): return APIError(status: 409, message: m, type: "invalid_request_error", code: "conflict")
      case .storage: return .unavailable("the control plane store is unavailable")
      }
    default:
      return nil
    }
  }
}

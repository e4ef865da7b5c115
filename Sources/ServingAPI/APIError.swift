import Foundation

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}` with its HTTP
/// status. Every failure a client can cause ends as one of these, naming the field at fault.
public struct APIError: Error, Sendable, Equatable, CustomStringConvertible {
  public var status: Int
  public var message: String
  public var type: String
  public var param: String?
  public var code: String?
  /// Seconds a client should wait before retrying (429, 503).
  public var retryAfter: Int?

  public init(status: Int, message: String, type: String, param: String? = nil, code: String? = nil, retryAfter: Int? = nil) {
    self.status = status
    self.message = message
    self.type = type
    self.param = param
    self.code = code
    self.retryAfter = retryAfter
  }

  public var description: String { "\(status) \(type): \(message)" }

  public static func invalid(_ param: String, _ message: String, code: String = "invalid_value") -> APIError {
    APIError(status: 400, message: message, type: "invalid_request_error", param: param, code: code)
  }

  public static func missing(_ param: String) -> APIError {
    APIError(status: 400, message: "'\(param)' is required", type: "invalid_request_error", param: param, code: "missing_required_parameter")
  }

  public static func badJSON(_ detail: String) -> APIError {
    APIError(status: 400, message: "the request body is not valid JSON: \(detail)", type: "invalid_request_error", code: "invalid_json")
  }

  public static func modelNotFound(_ model: String) -> APIError {
    APIError(status: 404, message: "the model '\(model)' does not exist", type: "invalid_request_error", param: "model", code: "model_not_found")
  }

  public static func notFound(_ what: String) -> APIError {
    APIError(status: 404, message: what, type: "invalid_request_error", code: "not_found")
  }

  public static func tooLarge(limit: Int) -> APIError {
    APIError(status: 413, message: "the request body exceeds the limit of \(limit) bytes", type: "invalid_request_error", code: "request_too_large")
  }

  public static func overloaded(retryAfter: Int, _ message: String = "the server is at capacity; retry later") -> APIError {
    APIError(status: 429, message: message, type: "rate_limit_error", code: "server_overloaded", retryAfter: retryAfter)
  }

  public static func unavailable(_ message: String, retryAfter: Int = 5) -> APIError {
    APIError(status: 503, message: message, type: "server_error", code: "unavailable", retryAfter: retryAfter)
  }

  public static func internalError(_ message: String) -> APIError {
    APIError(status: 500, message: message, type: "server_error", code: "internal_error")
  }

  public static func unauthorized(_ message: String = "missing or invalid API key") -> APIError {
    APIError(status: 401, message: message, type: "authentication_error", code: "invalid_api_key")
  }

  public static func forbidden(_ message: String) -> APIError {
    APIError(status: 403, message: message, type: "permission_error", code: "forbidden")
  }

  struct Body: Encodable {
    struct Inner: Encodable {
      let message: String
      let type: String
      let param: String?
      let code: String?

      func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(message, forKey: .message)
        try c.encode(type, forKey: .type)
        try c.encode(param, forKey: .param)  // explicit null, as OpenAI sends
        try c.encode(code, forKey: .code)
      }
      enum CodingKeys: String, CodingKey { case message, type, param, code }
    }
    let error: Inner
  }

  /// The JSON body.
  public var body: Data {
    let enc = JSONEncoder()
    enc.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    return (try? enc.encode(Body(error: .init(message: message, type: type, param: param, code: code)))) ?? Data()
  }
}

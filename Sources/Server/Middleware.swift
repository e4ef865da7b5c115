import Foundation
import Hummingbird
import NIOCore
import ServingAPI

/// Turns every error into OpenAI's `{"error": {...}}` body with the right status (and
/// Retry-After for 429/503). Unknown errors become 500 without leaking internals.
struct APIErrorMiddleware<Context: RequestContext>: RouterMiddleware {
  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    do {
      return try await next(request, context)
    } catch let e as APIError {
      return Self.response(e)
    } catch let e as HTTPError {
      let api: APIError
      switch e.status {
      case .notFound: api = .notFound("no route for \(request.method) \(request.uri.path)")
      case .contentTooLarge: api = .tooLarge(limit: 0)
      case .methodNotAllowed:
        api = APIError(status: 405, message: "method \(request.method) not allowed on \(request.uri.path)", type: "invalid_request_error", code: "method_not_allowed")
      default: api = APIError(status: Int(e.status.code), message: e.body ?? e.status.reasonPhrase, type: e.status.code < 500 ? "invalid_request_error" : "server_error")
      }
      return Self.response(api)
    } catch {
      if let api = APIError.controlPlane(error) { return Self.response(api) }
      context.logger.error("unhandled error", metadata: ["error": .string("\(error)")])
      return Self.response(.internalError("internal server error"))
    }
  }

  static func response(_ e: APIError) -> Response {
    var headers = HTTPFields()
    headers[.contentType] = "application/json"
    if let after = e.retryAfter { headers[.retryAfter] = String(after) }
    // RFC 7235: a 401 names the scheme that would work.
    if e.status == 401 { headers[.wwwAuthenticate] = "Bearer realm=\"hearth\"" }
    return Response(status: .init(code: e.status), headers: headers, body: ResponseBody(byteBuffer: ByteBuffer(bytes: e.body)))
  }
}

/// `hearth_http_request_duration_seconds{route,method,status}`, labelled by the matched route
/// pattern (never the raw path, so ids in URLs can't explode the label set).
struct HTTPMetricsMiddleware<Context: RequestContext>: RouterMiddleware {
  let metrics: ServerMetrics

  func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
    let start = DispatchTime.now().uptimeNanoseconds
    var response = try await next(request, context)
    let route = context.endpointPath ?? "unmatched"
    let method = request.method.rawValue
    let status = Int(response.status.code)
    let metrics = self.metrics
    // Recorded when the body has been written, so streams count their whole duration.
    let original = response.body
    response.body = ResponseBody(contentLength: original.contentLength) { writer in
      defer { metrics.http(route: route, method: method, status: status, seconds: Double(DispatchTime.now().uptimeNanoseconds - start) / 1e9) }
      try await original.write(writer)
    }
    return response
  }
}

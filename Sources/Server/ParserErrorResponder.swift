import Foundation
import HTTPTypes
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import ServingAPI

/// Answers requests that NIO's HTTP parser refuses (headers over the 80 KB limit, a malformed
/// request line) with an OpenAI-style JSON error, as every other refusal gets, instead of
/// Hummingbird's bare `400` with an empty body. It sits after the HTTP codec, takes the parser's
/// error before the application sees it, and writes the answer through the codec (so through TLS
/// where TLS is on). Then it stops writing, and closes once the client has finished sending or
/// after a second: closing with the rest of a 200 KB header unread would make the kernel reset the
/// connection, and the client might never read the answer.
final class ParserErrorResponder: ChannelInboundHandler, RemovableChannelHandler {
  typealias InboundIn = HTTPRequestPart
  typealias OutboundOut = HTTPResponsePart
  private var answered = false

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    guard let parserError = error as? HTTPParserError else {
      context.fireErrorCaught(error)
      return
    }
    // The decoder reports each later read as another error; the first one is answered.
    guard !answered else { return }
    answered = true
    let answer = Self.answer(parserError)
    let body = answer.body
    let head = HTTPResponse(
      status: .init(code: answer.status),
      headerFields: [.contentType: "application/json", .contentLength: String(body.count), .connection: "close"])
    context.write(wrapOutboundOut(.head(head)), promise: nil)
    context.write(wrapOutboundOut(.body(context.channel.allocator.buffer(bytes: Array(body)))), promise: nil)
    let channel = context.channel
    context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
      channel.close(mode: .output, promise: nil)
      channel.eventLoop.scheduleTask(in: .seconds(1)) { channel.close(promise: nil) }
    }
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    guard !answered else { return }
    context.fireChannelRead(data)
  }

  func channelInactive(context: ChannelHandlerContext) {
    context.fireChannelInactive()
  }

  static func answer(_ e: HTTPParserError) -> APIError {
    switch e {
    case .headerOverflow:
      APIError(status: 431, message: "the request headers are too large (80 KB in all at most)", type: "invalid_request_error", code: "headers_too_large")
    default:
      APIError(status: 400, message: "malformed HTTP request (\(e))", type: "invalid_request_error", code: "malformed_request")
    }
  }
}

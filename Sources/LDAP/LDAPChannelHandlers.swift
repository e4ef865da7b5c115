import NIOCore
import NIOPosix
import NIOSSL
import NIOTLS

/// Cuts the byte stream into LDAP messages. The size in a message's header is checked against
/// `maxMessageSize` before anything is buffered for it, so a server cannot make the client wait
/// for, or allocate, a gigabyte.
struct LDAPMessageDecoder: ByteToMessageDecoder {
  typealias InboundOut = LDAPMessage
  let maxMessageSize: Int

  mutating func decode(context: ChannelHandlerContext, buffer: inout ByteBuffer) throws -> DecodingState {
    let header: (tag: UInt8, headerLength: Int, length: Int)?
    do {
      header = try BERReader.header(in: buffer.readableBytesView.prefix(6))
    } catch let e as BERError {
      throw LDAPError.protocolError("malformed LDAP message header: \(e.description)")
    }
    guard let header else { return .needMoreData }
    guard header.tag == BERTag.sequence else {
      throw LDAPError.protocolError("expected an LDAPMessage (0x30), found tag 0x\(hex(header.tag))")
    }
    let total = header.headerLength + header.length
    guard total <= maxMessageSize else {
      throw LDAPError.protocolError("a message of \(total) bytes exceeds the limit of \(maxMessageSize)")
    }
    guard buffer.readableBytes >= total, let bytes = buffer.readBytes(length: total) else { return .needMoreData }
    context.fireChannelRead(wrapInboundOut(try LDAPMessage.decode(bytes)))
    return .continue
  }

  mutating func decodeLast(context: ChannelHandlerContext, buffer: inout ByteBuffer, seenEOF: Bool) throws -> DecodingState {
    while try decode(context: context, buffer: &buffer) == .continue {}
    return .needMoreData
  }
}

/// A request handed to the handler: it numbers it, starts its timer and completes
/// `promise` with the matching reply.
struct LDAPRequest: Sendable {
  enum Reply: Sendable {
    case bind, search, extended
    /// No reply exists (UnbindRequest): the write itself is the whole operation.
    case none
  }

  var operation: LDAPOperation
  var reply: Reply
  var promise: EventLoopPromise<LDAPReply>?
  var timeout: TimeAmount
  var label: String
  /// Refuse to send unless TLS is up (a request that carries a password).
  var requiresTLS = false
}

/// The final result of an operation, with the entries and references of a search.
struct LDAPReply: Sendable {
  var result: LDAPResult
  var entries: [LDAPEntry] = []
  var references: [String] = []
  var responseName: String?
}

/// Matches replies to requests by message ID. Any protocol violation, timeout or TLS error
/// fails every outstanding request and closes the connection: after that nothing on it can be
/// trusted, and every later request fails at once with the same error. All of its methods run
/// on the channel's event loop.
final class LDAPClientHandler: ChannelInboundHandler {
  typealias InboundIn = LDAPMessage
  typealias OutboundOut = ByteBuffer

  private struct Pending {
    var request: LDAPRequest
    var entries: [LDAPEntry] = []
    var references: [String] = []
    var timer: Scheduled<Void>
  }

  private let maxEntries: Int
  private var context: ChannelHandlerContext?
  private var pending: [Int32: Pending] = [:]
  private var nextID: Int32 = 1
  private var failure: LDAPError?
  private(set) var tlsActive = false
  /// True between the start of a TLS handshake and its end; a close in that window is a TLS failure.
  private var tlsHandshaking: Bool
  private var tlsWaiter: (promise: EventLoopPromise<Void>, timer: Scheduled<Void>)?

  init(maxEntries: Int, tlsFromStart: Bool) {
    self.maxEntries = maxEntries
    tlsHandshaking = tlsFromStart
  }

  func handlerAdded(context: ChannelHandlerContext) {
    self.context = context
  }

  func handlerRemoved(context: ChannelHandlerContext) {
    fail(.protocolError("the connection is closed"))
    self.context = nil
  }

  /// Numbers `request`, starts its timer and writes it.
  func send(_ request: LDAPRequest) {
    guard failure == nil, let context else {
      request.promise?.fail(failure ?? .protocolError("the connection is closed"))
      return
    }
    guard tlsActive || !request.requiresTLS else {
      request.promise?.fail(LDAPError.invalidConfiguration("refusing to send a password without TLS: use ldaps:// or StartTLS"))
      return
    }
    let id = nextID
    nextID = nextID == Int32.max ? 1 : nextID + 1
    let bytes = LDAPMessage(id: id, operation: request.operation).encoded()
    let buffer = context.channel.allocator.buffer(bytes: bytes)
    guard request.reply != .none else {
      // Nothing answers an UnbindRequest: it is done once written.
      context.writeAndFlush(wrapOutboundOut(buffer)).assumeIsolated().whenComplete { _ in
        request.promise?.succeed(LDAPReply(result: LDAPResult(code: LDAPResult.success)))
      }
      return
    }
    let label = request.label, timeout = request.timeout
    let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
      fail(.timeout("\(label) got no answer within \(describe(timeout))"))
    }
    pending[id] = Pending(request: request, timer: timer)
    context.writeAndFlush(wrapOutboundOut(buffer), promise: nil)
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let message = unwrapInboundIn(data)
    guard message.id != 0 else {
      if case .extendedResponse(let result, _, _) = message.operation {
        let why = result.diagnosticMessage.isEmpty ? "" : ": \(result.diagnosticMessage)"
        fail(.protocolError("the server is closing the connection (notice of disconnection, code \(result.code))\(why)"))
      } else {
        fail(.protocolError("unsolicited \(message.operation.name) with message ID 0"))
      }
      return
    }
    guard var entry = pending[message.id] else {
      fail(.protocolError("\(message.operation.name) answers message ID \(message.id), which is not outstanding"))
      return
    }
    switch (entry.request.reply, message.operation) {
    case (.search, .searchResultEntry(let e)):
      guard entry.entries.count < maxEntries else {
        fail(.protocolError("\(entry.request.label) returned more than \(maxEntries) entries"))
        return
      }
      entry.entries.append(e)
      pending[message.id] = entry
    case (.search, .searchResultReference(let uris)):
      guard entry.references.count < maxEntries else {
        fail(.protocolError("\(entry.request.label) returned more than \(maxEntries) references"))
        return
      }
      entry.references.append(contentsOf: uris.prefix(maxEntries))
      pending[message.id] = entry
    case (.search, .searchResultDone(let result)):
      complete(message.id, LDAPReply(result: result, entries: entry.entries, references: entry.references))
    case (.bind, .bindResponse(let result)):
      complete(message.id, LDAPReply(result: result))
    case (.extended, .extendedResponse(let result, let name, _)):
      complete(message.id, LDAPReply(result: result, responseName: name))
    default:
      fail(.protocolError("\(entry.request.label) was answered with \(message.operation.name)"))
    }
  }

  private func complete(_ id: Int32, _ reply: LDAPReply) {
    guard let entry = pending.removeValue(forKey: id) else { return }
    entry.timer.cancel()
    entry.request.promise?.succeed(reply)
  }

  /// Called on the event loop once a TLS handler sits in the pipeline: `promise` succeeds when
  /// the handshake completes and fails with `.tlsFailure` or `.timeout` otherwise.
  func awaitTLSHandshake(promise: EventLoopPromise<Void>, timeout: TimeAmount) {
    if tlsActive { return promise.succeed() }
    if let failure { return promise.fail(failure) }
    guard let context else { return promise.fail(LDAPError.protocolError("the connection is closed")) }
    tlsHandshaking = true
    let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
      fail(.timeout("the TLS handshake did not finish within \(describe(timeout))"))
    }
    tlsWaiter = (promise, timer)
  }

  func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
    if let tls = event as? TLSUserEvent, case .handshakeCompleted = tls {
      tlsActive = true
      tlsHandshaking = false
      if let waiter = tlsWaiter {
        tlsWaiter = nil
        waiter.timer.cancel()
        waiter.promise.succeed()
      }
    }
    context.fireUserInboundEventTriggered(event)
  }

  func errorCaught(context: ChannelHandlerContext, error: Error) {
    fail(LDAPError(error, tlsHandshaking: tlsHandshaking))
  }

  func channelInactive(context: ChannelHandlerContext) {
    if tlsHandshaking {
      fail(.tlsFailure("the server closed the connection during the TLS handshake"))
    } else {
      fail(.protocolError("the server closed the connection"))
    }
    context.fireChannelInactive()
  }

  /// Fails everything outstanding with `error` (the first error wins) and closes the channel.
  func fail(_ error: LDAPError) {
    let error = failure ?? error
    let wasOpen = failure == nil
    failure = error
    let outstanding = pending
    pending = [:]
    for (_, p) in outstanding {
      p.timer.cancel()
      p.request.promise?.fail(error)
    }
    if let waiter = tlsWaiter {
      tlsWaiter = nil
      waiter.timer.cancel()
      waiter.promise.fail(error)
    }
    if wasOpen { context?.close(promise: nil) }
  }
}

extension LDAPError {
  /// Maps what NIO and NIOSSL throw to the module's errors.
  init(_ error: any Error, tlsHandshaking: Bool = false) {
    switch error {
    case let e as LDAPError:
      self = e
    case let e as NIOSSLError:
      self = .tlsFailure(Self.describeTLS(e))
    case let e as NIOSSLExtraError:
      self = .tlsFailure(String(describing: e))
    case let e as BoringSSLError:
      self = .tlsFailure(String(describing: e))
    case let e as NIOConnectionError:
      self = .unreachable("cannot connect to \(e.host):\(e.port): \(e)")
    case let e as ChannelError:
      switch e {
      case .connectTimeout(let t): self = .unreachable("no connection within \(describe(t))")
      case .ioOnClosedChannel, .alreadyClosed, .eof, .outputClosed:
        self = tlsHandshaking ? .tlsFailure("connection closed during the TLS handshake") : .protocolError("the connection is closed")
      default: self = .protocolError(String(describing: e))
      }
    case let e as IOError:
      self = tlsHandshaking ? .tlsFailure("I/O error during the TLS handshake: \(e)") : .protocolError("I/O error: \(e)")
    default:
      self = .protocolError(String(describing: error))
    }
  }

  private static func describeTLS(_ e: NIOSSLError) -> String {
    switch e {
    case .handshakeFailed(let inner): "handshake failed (untrusted certificate or TLS not offered): \(inner)"
    case .uncleanShutdown: "the server closed the TLS connection uncleanly"
    default: String(describing: e)
    }
  }
}

/// "2 s", "500 ms": for error messages.
func describe(_ t: TimeAmount) -> String {
  let ms = t.nanoseconds / 1_000_000
  return ms % 1000 == 0 ? "\(ms / 1000) s" : "\(ms) ms"
}

#if canImport(Glibc)
  import Glibc
  private let streamSocket = Int32(SOCK_STREAM.rawValue)
#elseif canImport(Darwin)
  import Darwin
  private let streamSocket = SOCK_STREAM
#endif
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

@testable import LDAP

/// A scripted LDAP peer on 127.0.0.1 that plays a broken or hostile directory. It decodes the
/// LDAP messages the client sends and lets `respond` answer with arbitrary bytes; bytes that are
/// not LDAP (a TLS ClientHello) go to `onRaw`, and are swallowed without it.
final class FakeLDAPServer: Sendable {
  typealias Respond = @Sendable (LDAPMessage, any Channel) -> Void
  typealias OnRaw = @Sendable ([UInt8], any Channel) -> Void
  typealias State = NIOLockedValueBox<(connections: Int, received: [LDAPMessage])>

  let port: Int
  private let channel: any Channel
  private let state: State

  var connections: Int { state.withLockedValue { $0.connections } }
  var received: [LDAPMessage] { state.withLockedValue { $0.received } }

  private init(port: Int, channel: any Channel, state: State) {
    self.port = port
    self.channel = channel
    self.state = state
  }

  static func start(
    respond: @escaping Respond = { _, _ in }, onConnect: (@Sendable (any Channel) -> Void)? = nil,
    onRaw: OnRaw? = nil
  ) async throws -> FakeLDAPServer {
    let state = State((0, []))
    let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
      .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
      .childChannelInitializer { child in
        child.eventLoop.makeCompletedFuture {
          try child.pipeline.syncOperations.addHandler(
            FakeHandler(state: state, onConnect: onConnect, respond: respond, onRaw: onRaw))
        }
      }
      .bind(host: "127.0.0.1", port: 0).get()
    return FakeLDAPServer(port: channel.localAddress!.port!, channel: channel, state: state)
  }

  var url: LDAPURL { LDAPURL(scheme: .ldap, host: "127.0.0.1", port: port) }

  func stop() async {
    try? await channel.close().get()
  }

  private final class FakeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let state: State
    let onConnect: (@Sendable (any Channel) -> Void)?
    let respond: Respond
    let onRaw: OnRaw?
    var buffered: [UInt8] = []

    init(state: State, onConnect: (@Sendable (any Channel) -> Void)?, respond: @escaping Respond, onRaw: OnRaw?) {
      self.state = state
      self.onConnect = onConnect
      self.respond = respond
      self.onRaw = onRaw
    }

    func channelActive(context: ChannelHandlerContext) {
      state.withLockedValue { $0.connections += 1 }
      onConnect?(context.channel)
      context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
      buffered += unwrapInboundIn(data).readableBytesView
      while let first = buffered.first {
        guard first == BERTag.sequence else {
          let raw = buffered
          buffered = []
          onRaw?(raw, context.channel)
          return
        }
        guard let h = try? BERReader.header(in: buffered), buffered.count >= h.headerLength + h.length else { return }
        let bytes = Array(buffered.prefix(h.headerLength + h.length))
        buffered.removeFirst(bytes.count)
        guard let message = try? LDAPMessage.decode(bytes) else {
          context.close(promise: nil)
          return
        }
        state.withLockedValue { $0.received.append(message) }
        respond(message, context.channel)
      }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
      context.close(promise: nil)
    }
  }
}

extension Channel {
  /// Writes raw bytes to the peer.
  func send(_ bytes: [UInt8]) {
    writeAndFlush(ByteBuffer(bytes: bytes), promise: nil)
  }

  func send(_ message: LDAPMessage) {
    send(message.encoded())
  }
}

/// A loopback port that never completes a TCP handshake: a listener with a backlog of zero whose
/// queue is already full, so the kernel drops further SYNs, as a firewalled host would. (Traffic
/// stays on 127.0.0.1; no outside address is ever contacted.)
final class LoopbackBlackhole {
  let port: Int
  private var fds: [Int32] = []

  init() throws {
    let listener = socket(AF_INET, streamSocket, 0)
    guard listener >= 0 else { throw BlackholeError.socket(errno) }
    fds.append(listener)
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
      p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
        bind(listener, sa, len) == 0 && listen(listener, 0) == 0 && getsockname(listener, sa, &len) == 0
      }
    }
    guard ok else { throw BlackholeError.socket(errno) }
    port = Int(UInt16(bigEndian: addr.sin_port))
    // Fill the accept queue; these connections are never accepted.
    for _ in 0..<4 {
      let c = socket(AF_INET, streamSocket, 0)
      guard c >= 0, fcntl(c, F_SETFL, fcntl(c, F_GETFL) | O_NONBLOCK) == 0 else { throw BlackholeError.socket(errno) }
      fds.append(c)
      _ = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(c, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
      }
    }
    usleep(200_000)
  }

  deinit {
    for fd in fds { close(fd) }
  }

  enum BlackholeError: Error { case socket(Int32) }
}

/// A loopback port with nothing listening on it (connection refused).
func closedLoopbackPort() throws -> Int {
  let fd = socket(AF_INET, streamSocket, 0)
  defer { close(fd) }
  var addr = sockaddr_in()
  addr.sin_family = sa_family_t(AF_INET)
  addr.sin_addr.s_addr = inet_addr("127.0.0.1")
  var len = socklen_t(MemoryLayout<sockaddr_in>.size)
  let ok = withUnsafeMutablePointer(to: &addr) { p in
    p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
  }
  guard ok else { throw LoopbackBlackhole.BlackholeError.socket(errno) }
  return Int(UInt16(bigEndian: addr.sin_port))
}

/// Seconds since `start`, for "answered within the limit" checks.
func elapsed(since start: ContinuousClock.Instant) -> Double {
  let d = ContinuousClock.now - start
  return Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18
}

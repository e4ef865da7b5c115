import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import NIOSSL

/// How a connection verifies the server. `insecureSkipVerify` is for tests against throwaway
/// certificates only: it accepts any server, so a password sent after it is not protected.
public struct LDAPTLSOptions: Sendable {
  /// PEM file of the CA certificates to trust; `nil` trusts the system's roots.
  public var caFile: String?
  /// Accept any certificate for any name. Never in production.
  public var insecureSkipVerify: Bool
  /// The name to check the certificate against (and send as SNI) when it differs from the URL's host.
  public var serverName: String?

  public init(caFile: String? = nil, insecureSkipVerify: Bool = false, serverName: String? = nil) {
    self.caFile = caFile
    self.insecureSkipVerify = insecureSkipVerify
    self.serverName = serverName
  }
}

public struct LDAPConnectionOptions: Sendable {
  public var tls: LDAPTLSOptions
  /// Upgrade an `ldap://` connection with StartTLS before anything else is sent.
  public var startTLS: Bool
  /// Allow a password bind on a connection without TLS. Off by default; tests of the policy only.
  public var allowPasswordWithoutTLS: Bool
  public var connectTimeout: Duration
  /// The limit for each operation (and for the TLS handshake) once connected.
  public var operationTimeout: Duration
  /// The largest message accepted from the server.
  public var maxMessageSize: Int
  /// The most entries (and, separately, references) one search may return.
  public var maxEntries: Int

  public init(
    tls: LDAPTLSOptions = LDAPTLSOptions(), startTLS: Bool = false, allowPasswordWithoutTLS: Bool = false,
    connectTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(10),
    maxMessageSize: Int = 1 << 20, maxEntries: Int = 1000
  ) {
    self.tls = tls
    self.startTLS = startTLS
    self.allowPasswordWithoutTLS = allowPasswordWithoutTLS
    self.connectTimeout = connectTimeout
    self.operationTimeout = operationTimeout
    self.maxMessageSize = maxMessageSize
    self.maxEntries = maxEntries
  }
}

public struct LDAPSearchResult: Sendable {
  public var entries: [LDAPEntry]
  /// Continuation references (RFC 4511 §4.5.3); Hearth does not chase them.
  public var references: [String]
  /// The server stopped at the request's size limit: `entries` is incomplete.
  public var sizeLimitExceeded: Bool
}

/// One LDAPv3 connection on SwiftNIO: connect (plain, LDAPS, or plain upgraded with StartTLS),
/// simple bind, search, unbind. Every step has a time limit; errors are `LDAPError`s.
public final class LDAPConnection: Sendable {
  public let url: LDAPURL
  private let channel: any Channel
  private let handler: NIOLoopBound<LDAPClientHandler>
  private let options: LDAPConnectionOptions
  private let tlsContext: NIOSSLContext?

  private init(
    url: LDAPURL, channel: any Channel, handler: NIOLoopBound<LDAPClientHandler>, options: LDAPConnectionOptions,
    tlsContext: NIOSSLContext?
  ) {
    self.url = url
    self.channel = channel
    self.handler = handler
    self.options = options
    self.tlsContext = tlsContext
  }

  /// Connects and, for `ldaps://` or `options.startTLS`, completes the TLS handshake before returning.
  public static func connect(
    to url: LDAPURL, options: LDAPConnectionOptions = LDAPConnectionOptions(),
    group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
  ) async throws(LDAPError) -> LDAPConnection {
    let ldaps = url.scheme == .ldaps
    let tlsContext: NIOSSLContext? = if ldaps || options.startTLS { try makeTLSContext(options.tls) } else { nil }
    let serverHostname = try sniName(url: url, tls: options.tls)
    let maxMessageSize = options.maxMessageSize, maxEntries = options.maxEntries
    let handlerBox = NIOLockedValueBox<NIOLoopBound<LDAPClientHandler>?>(nil)
    let bootstrap = ClientBootstrap(group: group)
      .connectTimeout(TimeAmount(options.connectTimeout))
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          let sync = channel.pipeline.syncOperations
          if ldaps, let tlsContext {
            try sync.addHandler(NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname))
          }
          let handler = LDAPClientHandler(maxEntries: maxEntries, tlsFromStart: ldaps)
          try sync.addHandler(ByteToMessageHandler(LDAPMessageDecoder(maxMessageSize: maxMessageSize)))
          try sync.addHandler(handler)
          handlerBox.withLockedValue { $0 = NIOLoopBound(handler, eventLoop: channel.eventLoop) }
        }
      }
    let channel: any Channel
    do {
      channel = try await bootstrap.connect(host: url.host, port: url.port).get()
    } catch {
      throw LDAPError(error)
    }
    guard let handler = handlerBox.withLockedValue({ $0 }) else {
      channel.close(promise: nil)
      throw .protocolError("the connection closed before it was set up")
    }
    let connection = LDAPConnection(
      url: url, channel: channel, handler: handler, options: options, tlsContext: tlsContext)
    do throws(LDAPError) {
      if ldaps {
        try await connection.awaitHandshake(addingTLSHandler: nil)
      } else if options.startTLS {
        try await connection.startTLS(serverHostname: serverHostname)
      }
    } catch {
      channel.close(promise: nil)
      throw error
    }
    return connection
  }

  /// Whether the connection is protected by TLS now.
  public var isTLSActive: Bool {
    get async {
      let handler = self.handler
      return (try? await channel.eventLoop.submit { handler.value.tlsActive }.get()) ?? false
    }
  }

  /// RFC 4513 §3: ExtendedRequest StartTLS, then a TLS handshake on the same connection.
  private func startTLS(serverHostname: String?) async throws(LDAPError) {
    let reply = try await perform(.extendedRequest(name: LDAPOID.startTLS, value: nil), reply: .extended, label: "StartTLS")
    guard reply.result.code == LDAPResult.success else {
      throw .tlsFailure("the server refused StartTLS (code \(reply.result.code)): \(reply.result.diagnosticMessage)")
    }
    guard let tlsContext else { throw .tlsFailure("no TLS configuration") }
    try await awaitHandshake(addingTLSHandler: { try NIOSSLClientHandler(context: tlsContext, serverHostname: serverHostname) })
  }

  private func awaitHandshake(addingTLSHandler makeTLSHandler: (@Sendable () throws -> NIOSSLClientHandler)?) async throws(LDAPError) {
    let promise = channel.eventLoop.makePromise(of: Void.self)
    let handler = self.handler, channel = self.channel, timeout = TimeAmount(options.operationTimeout)
    channel.eventLoop.execute {
      handler.value.awaitTLSHandshake(promise: promise, timeout: timeout)
      guard let makeTLSHandler else { return }
      do {
        try channel.pipeline.syncOperations.addHandler(try makeTLSHandler(), position: .first)
      } catch {
        handler.value.fail(LDAPError(error, tlsHandshaking: true))
      }
    }
    do { try await promise.futureResult.get() } catch { throw LDAPError(error, tlsHandshaking: true) }
  }

  /// A simple bind. An empty password is refused here: RFC 4513 §5.1.2 makes it an
  /// unauthenticated bind, which servers accept without checking anything.
  public func bind(dn: String, password: String) async throws(LDAPError) {
    guard !password.isEmpty else { throw .invalidCredentials }
    guard !dn.isEmpty else { throw .invalidConfiguration("a bind needs a DN") }
    // The TLS check happens on the event loop, right before the write.
    let reply = try await perform(
      .bindRequest(version: 3, name: dn, password: Array(password.utf8)), reply: .bind, label: "bind",
      requiresTLS: !options.allowPasswordWithoutTLS)
    switch reply.result.code {
    case LDAPResult.success: return
    case LDAPResult.invalidCredentials: throw .invalidCredentials
    default:
      throw .operationFailed(operation: "bind", code: reply.result.code, message: reply.result.diagnosticMessage)
    }
  }

  /// A search; a result code other than success (or sizeLimitExceeded, reported in the result)
  /// is an `operationFailed` error.
  public func search(_ request: LDAPSearchRequest) async throws(LDAPError) -> LDAPSearchResult {
    var request = request
    if request.timeLimitSeconds == 0 {
      let seconds = options.operationTimeout.components.seconds
      request.timeLimitSeconds = Int32(clamping: max(1, seconds + (options.operationTimeout.components.attoseconds > 0 ? 1 : 0)))
    }
    let reply = try await perform(.searchRequest(request), reply: .search, label: "search under \(request.baseDN)")
    let code = reply.result.code
    guard code == LDAPResult.success || code == LDAPResult.sizeLimitExceeded else {
      throw .operationFailed(
        operation: "search under \(request.baseDN)", code: code, message: reply.result.diagnosticMessage)
    }
    return LDAPSearchResult(
      entries: reply.entries, references: reply.references, sizeLimitExceeded: code == LDAPResult.sizeLimitExceeded)
  }

  /// Sends UnbindRequest (best effort) and closes the connection. Safe to call more than once.
  public func close() async {
    _ = try? await perform(.unbindRequest, reply: .none, label: "unbind")
    try? await channel.close().get()
  }

  private func perform(
    _ operation: LDAPOperation, reply: LDAPRequest.Reply, label: String, requiresTLS: Bool = false
  ) async throws(LDAPError) -> LDAPReply {
    let promise = channel.eventLoop.makePromise(of: LDAPReply.self)
    let request = LDAPRequest(
      operation: operation, reply: reply, promise: promise, timeout: TimeAmount(options.operationTimeout), label: label,
      requiresTLS: requiresTLS)
    let handler = self.handler
    channel.eventLoop.execute { handler.value.send(request) }
    do { return try await promise.futureResult.get() } catch { throw LDAPError(error) }
  }

  private static func sniName(url: LDAPURL, tls: LDAPTLSOptions) throws(LDAPError) -> String? {
    if let name = tls.serverName { return name }
    return url.hostIsIPAddress ? nil : url.host
  }

  static func makeTLSContext(_ tls: LDAPTLSOptions) throws(LDAPError) -> NIOSSLContext {
    var config = TLSConfiguration.makeClientConfiguration()
    config.minimumTLSVersion = .tlsv12
    if tls.insecureSkipVerify {
      config.certificateVerification = .none
    } else if let caFile = tls.caFile {
      let certificates: [NIOSSLCertificate]
      do {
        certificates = try NIOSSLCertificate.fromPEMFile(caFile)
      } catch {
        throw .invalidConfiguration("cannot read CA certificates from \(caFile): \(error)")
      }
      guard !certificates.isEmpty else { throw .invalidConfiguration("no CA certificate in \(caFile)") }
      config.trustRoots = .certificates(certificates)
    }
    do {
      return try NIOSSLContext(configuration: config)
    } catch {
      throw .invalidConfiguration("cannot set up TLS: \(error)")
    }
  }
}

import NIOCore
import Testing

@testable import LDAP

/// The client against a directory that misbehaves: every case ends with a typed error, within
/// the configured limits, and never with a crash or a hang.
@Suite struct HostileServerTests {
  /// Plain LDAP to the fake server (the password policy is relaxed: the fake has no TLS), with a
  /// short limit for the tests that are about the limit.
  static let impatient = LDAPConnectionOptions(
    allowPasswordWithoutTLS: true, connectTimeout: .seconds(2), operationTimeout: .milliseconds(800), maxEntries: 100)

  static let search = LDAPSearchRequest(
    baseDN: "dc=hearth,dc=test", scope: .wholeSubtree, filter: .equality("uid", "alice"), attributes: ["1.1"])

  /// For failures that must come at once: a limit far above what the check allows, so that
  /// passing proves the client did not wait for it (on a loaded machine too).
  static let patient = LDAPConnectionOptions(
    allowPasswordWithoutTLS: true, connectTimeout: .seconds(120), operationTimeout: .seconds(120), maxEntries: 100)
  static let atOnce = 60.0
  /// The bound for "the limit held": generous, since all test suites share two cores, and still
  /// proof that nothing hangs.
  static let noHang = 60.0

  /// Connects, runs a search, and returns the error it ended with and how long that took.
  func searchError(
    options: LDAPConnectionOptions = HostileServerTests.patient,
    _ respond: @escaping FakeLDAPServer.Respond, onConnect: (@Sendable (any Channel) -> Void)? = nil
  ) async throws -> (LDAPError, Double) {
    let server = try await FakeLDAPServer.start(respond: respond, onConnect: onConnect)
    defer { Task { await server.stop() } }
    let start = ContinuousClock.now
    do throws(LDAPError) {
      let connection = try await LDAPConnection.connect(to: server.url, options: options)
      defer { Task { await connection.close() } }
      let result = try await connection.search(Self.search)
      Issue.record("the search succeeded: \(result.entries.count) entries")
      return (.protocolError("none"), elapsed(since: start))
    } catch {
      return (error, elapsed(since: start))
    }
  }

  @Test func aSilentServerTimesOut() async throws {
    let (error, seconds) = try await searchError(options: Self.impatient) { _, _ in }
    guard case .timeout(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.contains("800 ms"))
    #expect(seconds >= 0.7 && seconds < Self.noHang)
  }

  @Test func aHalfSentReplyTimesOut() async throws {
    let (error, seconds) = try await searchError(options: Self.impatient) { m, ch in ch.send(Array(LDAPMessage(id: m.id, operation: .searchResultDone(LDAPResult(code: 0))).encoded().prefix(4))) }
    #expect(error == .timeout("search under dc=hearth,dc=test got no answer within 800 ms"))
    #expect(seconds < Self.noHang)
  }

  @Test func aDripFeedingServerTimesOut() async throws {
    let (error, seconds) = try await searchError(options: Self.impatient) { m, ch in
      // A huge but allowed message, one byte every 50 ms: the operation limit still holds.
      let bytes = [0x30, 0x83, 0x0F, 0x00, 0x00] + [UInt8](repeating: 0x04, count: 60)
      for (i, b) in bytes.enumerated() {
        ch.eventLoop.scheduleTask(in: .milliseconds(Int64(50 * i))) { ch.send([b]) }
      }
    }
    guard case .timeout = error else { Issue.record("\(error)"); return }
    #expect(seconds < Self.noHang)
  }

  @Test func anOversizedMessageIsRefusedFromItsHeader() async throws {
    // 256 MiB announced: refused at once, before the client waits for (or buffers) any of it.
    let (error, seconds) = try await searchError { _, ch in ch.send([0x30, 0x84, 0x10, 0x00, 0x00, 0x00]) }
    guard case .protocolError(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.contains("exceeds the limit"))
    #expect(seconds < Self.atOnce)
  }

  @Test func aFloodOfEntriesIsCutOff() async throws {
    let (error, seconds) = try await searchError { m, ch in
      let entry = LDAPMessage(id: m.id, operation: .searchResultEntry(LDAPEntry(dn: "uid=x,dc=hearth,dc=test", attributes: [])))
      for _ in 0..<5_000 { ch.write(ByteBuffer(bytes: entry.encoded()), promise: nil) }
      ch.flush()
    }
    guard case .protocolError(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.contains("more than 100 entries"))
    #expect(seconds < Self.atOnce)
  }

  @Test func garbageIsAProtocolError() async throws {
    let (error, _) = try await searchError { _, ch in ch.send(Array("HTTP/1.1 400 Bad Request\r\n\r\n".utf8)) }
    guard case .protocolError(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.contains("found tag 0x48"))
  }

  @Test func aMalformedBodyIsAProtocolError() async throws {
    // A well-framed message whose BindResponse lacks its diagnosticMessage.
    let (error, _) = try await searchError { _, ch in ch.send([0x30, 0x0A, 0x02, 0x01, 0x01, 0x61, 0x05, 0x0A, 0x01, 0x00, 0x04, 0x00]) }
    guard case .protocolError(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.hasPrefix("malformed LDAP message"))
  }

  @Test func anAnswerToAnotherMessageIsAProtocolError() async throws {
    let (error, _) = try await searchError { m, ch in ch.send(LDAPMessage(id: m.id + 7, operation: .searchResultDone(LDAPResult(code: 0)))) }
    guard case .protocolError(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.contains("not outstanding"))
  }

  @Test func theWrongKindOfAnswerIsAProtocolError() async throws {
    let (error, _) = try await searchError { m, ch in ch.send(LDAPMessage(id: m.id, operation: .bindResponse(LDAPResult(code: 0)))) }
    #expect(error == .protocolError("search under dc=hearth,dc=test was answered with BindResponse"))
  }

  @Test func aNoticeOfDisconnectionEndsTheConnection() async throws {
    let (error, _) = try await searchError { _, ch in
      ch.send(LDAPMessage(id: 0, operation: .extendedResponse(
        LDAPResult(code: 52, diagnosticMessage: "shutting down"), name: LDAPOID.noticeOfDisconnection, value: nil)))
    }
    guard case .protocolError(let why) = error else { Issue.record("\(error)"); return }
    #expect(why.contains("notice of disconnection") && why.contains("shutting down"))
  }

  @Test func aServerThatHangsUpIsAProtocolError() async throws {
    let (error, seconds) = try await searchError({ _, _ in }, onConnect: { ch in ch.close(promise: nil) })
    guard case .protocolError = error else { Issue.record("\(error)"); return }
    #expect(seconds < Self.atOnce)
  }

  @Test func searchFailuresCarryTheResultCode() async throws {
    let (error, _) = try await searchError { m, ch in
      ch.send(LDAPMessage(id: m.id, operation: .searchResultDone(LDAPResult(code: 32, diagnosticMessage: "no such object"))))
    }
    #expect(error == .operationFailed(operation: "search under dc=hearth,dc=test", code: 32, message: "no such object"))
  }

  @Test func aRefusedStartTLSIsATLSFailure() async throws {
    let server = try await FakeLDAPServer.start { m, ch in
      ch.send(LDAPMessage(id: m.id, operation: .extendedResponse(LDAPResult(code: 2, diagnosticMessage: "no TLS here"), name: nil, value: nil)))
    }
    defer { Task { await server.stop() } }
    var options = Self.patient
    options.startTLS = true
    await #expect(throws: LDAPError.tlsFailure("the server refused StartTLS (code 2): no TLS here")) {
      try await LDAPConnection.connect(to: server.url, options: options)
    }
  }

  @Test func plaintextAfterAnAcceptedStartTLSIsATLSFailure() async throws {
    // StartTLS accepted, then the ClientHello is answered with text.
    let server = try await FakeLDAPServer.start(
      respond: { m, ch in
        ch.send(LDAPMessage(id: m.id, operation: .extendedResponse(LDAPResult(code: 0), name: LDAPOID.startTLS, value: nil)))
      },
      onRaw: { _, ch in ch.send(Array("not a TLS record, just text\r\n".utf8)) })
    defer { Task { await server.stop() } }
    var options = Self.patient
    options.startTLS = true
    options.tls.insecureSkipVerify = true
    let start = ContinuousClock.now
    do throws(LDAPError) {
      _ = try await LDAPConnection.connect(to: server.url, options: options)
      Issue.record("the handshake succeeded")
    } catch {
      guard case .tlsFailure = error else { Issue.record("\(error)"); return }
      #expect(elapsed(since: start) < Self.atOnce)
    }
  }

  @Test func ldapsToASilentServerTimesOutInTheHandshake() async throws {
    let server = try await FakeLDAPServer.start()
    defer { Task { await server.stop() } }
    var options = Self.impatient
    options.tls.insecureSkipVerify = true
    let start = ContinuousClock.now
    await #expect(throws: LDAPError.timeout("the TLS handshake did not finish within 800 ms")) {
      try await LDAPConnection.connect(to: LDAPURL(scheme: .ldaps, host: "127.0.0.1", port: server.port), options: options)
    }
    #expect(elapsed(since: start) < Self.noHang)
  }

  @Test func noPasswordCrossesAConnectionWithoutTLS() async throws {
    let server = try await FakeLDAPServer.start { m, ch in
      ch.send(LDAPMessage(id: m.id, operation: .bindResponse(LDAPResult(code: 0))))
    }
    defer { Task { await server.stop() } }
    let strict = LDAPConnectionOptions(connectTimeout: .seconds(30), operationTimeout: .seconds(30))
    let connection = try await LDAPConnection.connect(to: server.url, options: strict)
    #expect(await !connection.isTLSActive)
    await #expect(throws: LDAPError.invalidConfiguration("refusing to send a password without TLS: use ldaps:// or StartTLS")) {
      try await connection.bind(dn: "uid=alice,ou=people,dc=hearth,dc=test", password: "alice-Secret-1")
    }
    // An empty password is refused too, before the TLS question: it would be an anonymous bind.
    await #expect(throws: LDAPError.invalidCredentials) { try await connection.bind(dn: "uid=alice,dc=x", password: "") }
    await connection.close()
    #expect(!server.received.contains { if case .bindRequest = $0.operation { true } else { false } })
  }

  @Test func anEmptyPasswordNeverReachesTheServer() async throws {
    let server = try await FakeLDAPServer.start()
    defer { Task { await server.stop() } }
    let auth = try LDAPAuthenticator(config: .init(
      url: server.url.description, allowPasswordWithoutTLS: true,
      userLookup: .dnTemplate("uid={username},ou=people,dc=hearth,dc=test"), groupBaseDN: "ou=groups,dc=hearth,dc=test",
      mappings: [LDAPGroupMapping(group: "llm-admins", role: "admin", tenant: "default")]))
    await #expect(throws: LDAPError.invalidCredentials) { try await auth.authenticate(username: "alice", password: "") }
    await #expect(throws: LDAPError.invalidUsername("contains control characters")) {
      try await auth.authenticate(username: "alice\u{0}", password: "x")
    }
    #expect(server.connections == 0)
  }

  @Test func aClosedPortIsUnreachableAtOnce() async throws {
    let port = try closedLoopbackPort()
    let start = ContinuousClock.now
    do throws(LDAPError) {
      _ = try await LDAPConnection.connect(to: LDAPURL(scheme: .ldap, host: "127.0.0.1", port: port), options: Self.patient)
      Issue.record("connected to a closed port")
    } catch {
      guard case .unreachable(let why) = error else { Issue.record("\(error)"); return }
      #expect(why.contains("127.0.0.1:\(port)"))
      #expect(elapsed(since: start) < Self.atOnce)
    }
  }

  @Test func aBlackholedAddressIsUnreachableWithinTheConnectTimeout() async throws {
    let hole = try LoopbackBlackhole()
    var options = Self.patient
    options.connectTimeout = .seconds(1)
    let start = ContinuousClock.now
    do throws(LDAPError) {
      _ = try await LDAPConnection.connect(to: LDAPURL(scheme: .ldap, host: "127.0.0.1", port: hole.port), options: options)
      Issue.record("connected to the blackhole")
    } catch {
      let seconds = elapsed(since: start)
      #expect(error == .unreachable("no connection within 1 s"))
      #expect(seconds >= 0.9 && seconds < Self.noHang)
    }
    withExtendedLifetime(hole) {}
  }
}

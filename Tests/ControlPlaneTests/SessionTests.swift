import Foundation
import Testing

@testable import ControlPlane

@Suite struct SessionTests {
  let clock = ManualTime()

  @Test func aSessionLastsItsTTLAndNoLonger() throws {
    let sessions = SessionService(ttl: 60, clock: clock)
    let p = Principal(tenantID: "tn_a", role: .auditor, actor: "ldap:alice")
    let (token, expires) = sessions.start(p)
    #expect(token.hasPrefix("hs_") && token.count == 46)
    #expect(expires == clock.now().addingTimeInterval(60))
    #expect(try sessions.verify(token) == p)
    clock.advance(by: 59)
    #expect(try sessions.verify(token) == p)
    clock.advance(by: 1)
    #expect(throws: KeyVerifyError.expired) { try sessions.verify(token) }
    // An expired session is forgotten; asking again finds nothing.
    #expect(throws: KeyVerifyError.unknown) { try sessions.verify(token) }
  }

  @Test func unknownMalformedAndEndedSessionsAreRefused() throws {
    let sessions = SessionService(ttl: 60, clock: clock)
    let (token, _) = sessions.start(Principal(tenantID: "default", role: .admin, actor: "ldap:root"))
    #expect(throws: KeyVerifyError.malformed) { try sessions.verify("hs_short") }
    var forged = Array(token)
    forged[10] = forged[10] == "A" ? "B" : "A"
    #expect(throws: KeyVerifyError.unknown) { try sessions.verify(String(forged)) }
    sessions.end(token)
    #expect(throws: KeyVerifyError.unknown) { try sessions.verify(token) }
  }

  @Test func theSessionTableIsBounded() {
    let sessions = SessionService(ttl: 60, maxSessions: 3, clock: clock)
    var tokens: [String] = []
    for i in 0..<5 {
      tokens.append(sessions.start(Principal(tenantID: "default", role: .viewer, actor: "ldap:u\(i)")).token)
      clock.advance(by: 1)
    }
    #expect(sessions.count == 3)
    #expect(throws: KeyVerifyError.unknown) { try sessions.verify(tokens[0]) }
    #expect((try? sessions.verify(tokens[4])) != nil)
  }

  @Test func failedLoginsAreThrottledPerUserAndPerClient() throws {
    let throttle = LoginThrottle(maxFailures: 3, maxFailuresPerClient: 3, window: 300, clock: clock)
    for _ in 0..<3 {
      try throttle.check(username: "Alice", client: "10.0.0.1")
      throttle.failed(username: "Alice", client: "10.0.0.1")
    }
    // The same user from elsewhere, and anyone from the same address, are held back.
    do throws(QuotaError) {
      try throttle.check(username: "alice", client: "10.0.0.2")
      Issue.record("the fourth attempt for alice should be refused")
    } catch {
      #expect(error.retryAfter == 300 && error.limit.kind == .failedLogins(windowSeconds: 300))
    }
    #expect(throws: QuotaError.self) { try throttle.check(username: "bob", client: "10.0.0.1") }
    try throttle.check(username: "bob", client: "10.0.0.3")
    clock.advance(by: 300)
    try throttle.check(username: "alice", client: "10.0.0.1")
    // A success clears the user's count.
    throttle.failed(username: "carol", client: nil)
    throttle.failed(username: "carol", client: nil)
    throttle.succeeded(username: "carol")
    throttle.failed(username: "carol", client: nil)
    try throttle.check(username: "carol", client: nil)
  }
}

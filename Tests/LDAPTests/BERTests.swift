import Testing

@testable import LDAP

@Suite struct BERTests {
  @Test func bindRequestMatchesTheWireFormat() {
    // RFC 4511 §4.2, checked byte by byte: SEQUENCE { 1, [APPLICATION 0] { 3, "cn=admin", [0] "secret" } }.
    let m = LDAPMessage(id: 1, operation: .bindRequest(version: 3, name: "cn=admin", password: Array("secret".utf8)))
    let expected: [UInt8] = [0x30, 0x1A, 0x02, 0x01, 0x01, 0x60, 0x15, 0x02, 0x01, 0x03, 0x04, 0x08]
      + Array("cn=admin".utf8) + [0x80, 0x06] + Array("secret".utf8)
    #expect(m.encoded() == expected)
  }

  @Test func startTLSAndUnbindMatchTheWireFormat() {
    let startTLS = LDAPMessage(id: 1, operation: .extendedRequest(name: LDAPOID.startTLS, value: nil))
    #expect(startTLS.encoded() == [0x30, 0x1D, 0x02, 0x01, 0x01, 0x77, 0x18, 0x80, 0x16] + Array("1.3.6.1.4.1.1466.20037".utf8))
    #expect(LDAPMessage(id: 3, operation: .unbindRequest).encoded() == [0x30, 0x05, 0x02, 0x01, 0x03, 0x42, 0x00])
  }

  @Test func equalityFilterMatchesTheWireFormat() {
    var w = BERWriter()
    LDAPFilter.equality("uid", "alice").encode(into: &w)
    #expect(w.bytes == [0xA3, 0x0C, 0x04, 0x03] + Array("uid".utf8) + [0x04, 0x05] + Array("alice".utf8))
    var p = BERWriter()
    LDAPFilter.present("objectClass").encode(into: &p)
    #expect(p.bytes == [0x87, 0x0B] + Array("objectClass".utf8))
  }

  static let integers: [(Int64, [UInt8])] = [
    (0, [0x00]), (127, [0x7F]), (128, [0x00, 0x80]), (255, [0x00, 0xFF]), (256, [0x01, 0x00]),
    (-1, [0xFF]), (-128, [0x80]), (-129, [0xFF, 0x7F]), (Int64(Int32.max), [0x7F, 0xFF, 0xFF, 0xFF]),
  ]

  @Test(arguments: integers)
  func integersUseTheShortestTwosComplement(value: Int64, contents: [UInt8]) throws {
    var w = BERWriter()
    w.writeInteger(value)
    #expect(w.bytes == [0x02, UInt8(contents.count)] + contents)
    var r = BERReader(w.bytes)
    #expect(try r.readInteger("n") == value)
  }

  @Test(arguments: [0, 1, 127, 128, 255, 256, 65_535, 65_536, 1 << 20])
  func lengthsRoundTrip(length: Int) throws {
    var w = BERWriter()
    w.writeOctetString([UInt8](repeating: 0x61, count: length))
    var r = BERReader(w.bytes)
    #expect(try r.readOctetString("s").count == length)
    #expect(r.isAtEnd)
    // Short form below 128, long form with the fewest length bytes above.
    let expectedHeader = length < 128 ? 2 : 2 + (length.bitWidth - length.leadingZeroBitCount + 7) / 8
    #expect(try BERReader.header(in: w.bytes)?.headerLength == expectedHeader)
  }

  static let filters: [LDAPFilter] = [
    .equality("uid", "alice"),
    .and([.equality("objectClass", "groupOfNames"), .equality("member", "uid=a,dc=x")]),
    .or([.present("mail"), .not(.approx("cn", Array("Bob".utf8)))]),
    .substrings("cn", initial: Array("a".utf8), any: [Array("b".utf8), Array("c".utf8)], final: Array("d".utf8)),
    .substrings("cn", initial: nil, any: [Array("*()\\".utf8)], final: nil),
    .greaterOrEqual("uidNumber", Array("1000".utf8)),
    .lessOrEqual("uidNumber", Array("2000".utf8)),
    .extensible(matchingRule: "1.2.840.113556.1.4.1941", attribute: "memberOf", value: Array("cn=g".utf8), dnAttributes: false),
    .extensible(matchingRule: nil, attribute: "ou", value: Array("x".utf8), dnAttributes: true),
    .equality("cn", [0x00, 0xFF, 0x28, 0x29]),
  ]

  static let messages: [LDAPMessage] = [
    LDAPMessage(id: 1, operation: .bindRequest(version: 3, name: "uid=dave,ou=people,dc=hearth,dc=test", password: Array("d@ve (p4ss)*\\ \"wörd\"".utf8))),
    LDAPMessage(id: 1, operation: .bindResponse(LDAPResult(code: 49, diagnosticMessage: "invalid credentials"))),
    LDAPMessage(id: 2, operation: .bindResponse(LDAPResult(code: 10, referrals: ["ldap://other/", "ldaps://third/"]))),
    LDAPMessage(id: 7, operation: .unbindRequest),
    LDAPMessage(id: Int32.max, operation: .searchResultDone(LDAPResult(code: 0, matchedDN: "dc=hearth,dc=test"))),
    LDAPMessage(id: 5, operation: .searchResultReference(["ldap://h/ou=x,dc=y", "ldap://g/"])),
    LDAPMessage(id: 5, operation: .searchResultEntry(LDAPEntry(dn: "cn=llm-admins,ou=groups,dc=hearth,dc=test", attributes: [
      LDAPAttribute(name: "cn", values: [Array("llm-admins".utf8)]),
      LDAPAttribute(name: "member", values: [Array("uid=alice".utf8), Array("uid=bob".utf8)]),
      LDAPAttribute(name: "jpegPhoto", values: [[0x00, 0xFF, 0xD8]]),
      LDAPAttribute(name: "empty", values: []),
    ]))),
    LDAPMessage(id: 1, operation: .extendedRequest(name: LDAPOID.startTLS, value: nil)),
    LDAPMessage(id: 9, operation: .extendedRequest(name: "1.3.6.1.4.1.4203.1.11.3", value: [1, 2, 3])),
    LDAPMessage(id: 1, operation: .extendedResponse(LDAPResult(code: 0), name: LDAPOID.startTLS, value: nil)),
    LDAPMessage(id: 0, operation: .extendedResponse(LDAPResult(code: 52, diagnosticMessage: "bye"), name: LDAPOID.noticeOfDisconnection, value: [9])),
  ] + filters.enumerated().map { i, f in
    LDAPMessage(id: Int32(i + 10), operation: .searchRequest(LDAPSearchRequest(
      baseDN: "ou=people,dc=hearth,dc=test", scope: .wholeSubtree, filter: f, attributes: ["cn", "1.1"],
      sizeLimit: 2, timeLimitSeconds: 5, derefAliases: 0, typesOnly: i % 2 == 1)))
  }

  @Test(arguments: messages)
  func messagesRoundTrip(message: LDAPMessage) throws {
    let bytes = message.encoded()
    #expect(try LDAPMessage.decode(bytes) == message)
  }

  @Test(arguments: filters)
  func filterStringFormRoundTrips(filter: LDAPFilter) throws {
    #expect(try LDAPFilter.parse(filter.description) == filter)
  }

  @Test func controlsOnAResponseAreSkipped() throws {
    // A SearchResultDone followed by [0] Controls { Control { "1.2.3" } }.
    var w = BERWriter()
    w.writeConstructed(tag: BERTag.sequence) { w in
      w.writeInteger(4)
      LDAPOperation.searchResultDone(LDAPResult(code: 0)).encode(into: &w)
      w.writeConstructed(tag: BERTag.context(0, constructed: true)) { w in
        w.writeConstructed(tag: BERTag.sequence) { $0.writeOctetString("1.2.3") }
      }
    }
    #expect(try LDAPMessage.decode(w.bytes) == LDAPMessage(id: 4, operation: .searchResultDone(LDAPResult(code: 0))))
  }

  @Test func entryValuesAreReadByAttributeNameCaseInsensitively() {
    let e = LDAPEntry(dn: "cn=x", attributes: [LDAPAttribute(name: "CN", values: [Array("x".utf8), [0xFF]])])
    #expect(e.values(of: "cn") == ["x"])  // the non-UTF-8 value is not a string
  }
}

extension LDAPMessage: CustomTestStringConvertible {
  public var testDescription: String { "#\(id) \(operation.name)" }
}

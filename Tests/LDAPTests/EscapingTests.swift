import Testing

@testable import LDAP

/// RFC 4515 (filters) and RFC 4514 (DNs): what a username can do once it is substituted.
@Suite struct EscapingTests {
  @Test func filterEscapingCoversTheRFC4515Characters() {
    #expect(LDAPFilter.escape("*") == "\\2a")
    #expect(LDAPFilter.escape("(") == "\\28")
    #expect(LDAPFilter.escape(")") == "\\29")
    #expect(LDAPFilter.escape("\\") == "\\5c")
    #expect(LDAPFilter.escape("\u{0}") == "\\00")
    #expect(LDAPFilter.escape("a\u{1}b\u{7F}") == "a\\01b\\7f")
    #expect(LDAPFilter.escape("alice") == "alice")
    #expect(LDAPFilter.escape("jörg 名前") == "jörg 名前")  // valid UTF-8 passes unchanged
    #expect(LDAPFilter.escape(bytes: [0x61, 0xFF]) == "a\\ff")  // invalid UTF-8 is escaped whole
  }

  static let injections = [
    "*", "*)(uid=*", "admin)(|(uid=*", "alice)(uid=*))(|(uid=*", "*)(|(objectClass=*)", "alice\u{0}",
    "\\", "\\2a", "al*ce", "(uid=alice)", "ålice", "名前*)(", "x)(!(uid=x",
  ]

  /// Each attempt, substituted into the configured user filter, must parse to one equality
  /// clause whose value is exactly the attempted username: no wildcard, no extra clause.
  @Test(arguments: injections)
  func injectedUsernamesStayOneValue(username: String) throws {
    let f = try LDAPFilter.build(template: "(uid={username})", values: ["username": username])
    #expect(f == .equality("uid", Array(username.utf8)))
    let g = try LDAPFilter.build(
      template: "(&(objectClass=groupOfNames)(|(member={dn})(memberUid={username})))",
      values: ["username": username, "dn": "uid=\(username),dc=x"])
    #expect(g == .and([
      .equality("objectClass", "groupOfNames"),
      .or([.equality("member", Array("uid=\(username),dc=x".utf8)), .equality("memberUid", Array(username.utf8))]),
    ]))
  }

  @Test(arguments: injections)
  func injectedUsernamesStayOneRDNValue(username: String) throws {
    let dn = try LDAPDN.build(template: "uid={username},ou=people,dc=hearth,dc=test", values: ["username": username])
    let rdns = try LDAPDN.parse(dn)
    #expect(rdns.count == 4)
    #expect(rdns[0] == [LDAPDN.Attribute(type: "uid", value: username)])
  }

  @Test func dnEscapingCoversTheRFC4514Characters() {
    #expect(LDAPDN.escape("o'brien,jr") == "o'brien\\,jr")
    #expect(LDAPDN.escape("a+b;c<d>e=f\"g\\") == "a\\+b\\;c\\<d\\>e\\=f\\\"g\\\\")
    #expect(LDAPDN.escape(" #lead") == "\\ #lead")
    #expect(LDAPDN.escape("#lead") == "\\#lead")
    #expect(LDAPDN.escape("trail ") == "trail\\ ")
    #expect(LDAPDN.escape("mid dle#") == "mid dle#")
    #expect(LDAPDN.escape("nul\u{0}") == "nul\\00")
    #expect(LDAPDN.escape("jörg") == "jörg")
  }

  @Test(arguments: [
    ("uid=alice,ou=people,dc=hearth,dc=test", "uid=alice,ou=people,dc=hearth,dc=test"),
    ("UID=Alice , OU=People,DC=hearth,DC=test", "uid=alice,ou=people,dc=hearth,dc=test"),
    ("uid=o'brien\\2Cjr,ou=people", "uid=o'brien\\,jr,ou=people"),
    ("uid=o'brien\\,jr,ou=people", "uid=o'brien\\,jr,ou=people"),
    ("cn=b+uid=a,dc=x", "cn=b+uid=a,dc=x"),
    ("uid=a+cn=b,dc=x", "cn=b+uid=a,dc=x"),
    ("cn=\\ padded\\ ,dc=x", "cn=\\ padded\\ ,dc=x"),
  ])
  func dnsNormalizeToOneSpelling(dn: String, normalized: String) throws {
    #expect(try LDAPDN.normalize(dn) == normalized)
  }

  @Test(arguments: ["uid", "uid=a,", ",dc=x", "uid=a,dc", "uid=a\\"])
  func malformedDNsAreRefused(dn: String) {
    #expect(throws: LDAPError.self) { try LDAPDN.parse(dn) }
  }

  @Test func filterParserReadsEveryForm() throws {
    #expect(try LDAPFilter.parse("(cn=a*b*c)") == .substrings("cn", initial: [0x61], any: [[0x62]], final: [0x63]))
    #expect(try LDAPFilter.parse("(cn=*b*)") == .substrings("cn", initial: nil, any: [[0x62]], final: nil))
    #expect(try LDAPFilter.parse("(cn=*)") == .present("cn"))
    #expect(try LDAPFilter.parse("(cn=)") == .equality("cn", []))
    #expect(try LDAPFilter.parse("(cn;lang-en=x)") == .equality("cn;lang-en", "x"))
    #expect(try LDAPFilter.parse("(cn=\\2A\\5C)") == .equality("cn", "*\\"))
    #expect(try LDAPFilter.parse("(memberOf:1.2.840.113556.1.4.1941:=cn=g,dc=x)")
      == .extensible(matchingRule: "1.2.840.113556.1.4.1941", attribute: "memberOf", value: Array("cn=g,dc=x".utf8), dnAttributes: false))
    #expect(try LDAPFilter.parse("(:dn:2.4.6.8.10:=Dino)")
      == .extensible(matchingRule: "2.4.6.8.10", attribute: nil, value: Array("Dino".utf8), dnAttributes: true))
    #expect(try LDAPFilter.parse("(!(|(a>=1)(b<=2)(c~=3)))")
      == .not(.or([.greaterOrEqual("a", [0x31]), .lessOrEqual("b", [0x32]), .approx("c", [0x33])])))
  }

  @Test(arguments: [
    "", "uid=a", "(uid=a", "(uid=a))", "(&)", "(|)", "(=a)", "(uid=a(b)", "(uid=\\2)", "(uid=\\zz)",
    "(uid>=a*)", "(cn=a**b)", "(uid=a)(uid=b)", "(:=x)", "(uid~a)", "(uid=a\u{0})",
  ])
  func malformedFiltersAreRefused(text: String) {
    #expect(throws: LDAPError.self) { try LDAPFilter.parse(text) }
  }

  @Test func templatesRefuseUnknownPlaceholders() {
    #expect(throws: LDAPError.self) { try LDAPFilter.build(template: "(uid={user})", values: ["username": "a"]) }
    #expect(throws: LDAPError.self) { try LDAPFilter.build(template: "(uid={username)", values: ["username": "a"]) }
    #expect(throws: LDAPError.self) { try LDAPDN.build(template: "uid={name},dc=x", values: ["username": "a"]) }
  }

  @Test func usernamesAreCheckedBeforeUse() throws {
    try LDAPAuthenticator.check(username: "o'brien,jr")
    try LDAPAuthenticator.check(username: "*)(uid=*")
    try LDAPAuthenticator.check(username: "名前")
    for bad in ["", "a\u{0}b", "tab\there", "new\nline", "c1\u{85}", String(repeating: "x", count: 257)] {
      #expect(throws: LDAPError.self, "\(bad.debugDescription)") { try LDAPAuthenticator.check(username: bad) }
    }
  }

  @Test func urlsParse() throws {
    #expect(try LDAPURL("ldap://127.0.0.1:3890") == LDAPURL(scheme: .ldap, host: "127.0.0.1", port: 3890))
    #expect(try LDAPURL("LDAPS://dir.example.org/") == LDAPURL(scheme: .ldaps, host: "dir.example.org", port: 636))
    #expect(try LDAPURL("ldap://[::1]") == LDAPURL(scheme: .ldap, host: "::1", port: 389))
    #expect(try LDAPURL("ldaps://[::1]:1636").description == "ldaps://[::1]:1636")
    #expect(try LDAPURL("ldap://127.0.0.1").hostIsIPAddress)
    #expect(try !LDAPURL("ldap://localhost").hostIsIPAddress)
    for bad in ["http://x", "ldap://", "ldap://h:0", "ldap://h:70000", "ldap://h/dc=x", "ldap://u@h", "ldap//h", "ldap://h:p", "ldap://[::1"] {
      #expect(throws: LDAPError.self, "\(bad)") { try LDAPURL(bad) }
    }
  }

  @Test func booleanOfTwoBytesIsRefused() {
    var r = BERReader([0x01, 0x02, 0xFF, 0xFF])
    #expect(throws: BERError.self) { try r.readBoolean("b") }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import Testing

@testable import LDAP

/// The directory that `scripts/ldap-test-server start` serves (the passwords are its fixtures).
enum LiveDirectory {
  static func env(_ name: String) -> String? {
    guard let v = getenv(name) else { return nil }
    let s = String(cString: v)
    return s.isEmpty ? nil : s
  }

  static let ldapURL = env("LDAP_URL")
  static let ldapsURL = env("LDAPS_URL")
  static let ca = env("LDAP_CA")
  static let wrongCA = env("LDAP_WRONG_CA")
  static let mismatchURL = env("LDAPS_MISMATCH_URL")
  static var available: Bool { ldapURL != nil && ldapsURL != nil && ca != nil && wrongCA != nil && mismatchURL != nil }
  static var required: Bool { env("HEARTH_REQUIRE_LDAP") == "1" }

  static let base = "dc=hearth,dc=test"
  static let serviceDN = env("LDAP_BIND_DN") ?? "cn=hearth-svc,ou=services,dc=hearth,dc=test"
  static let servicePassword = env("LDAP_BIND_PASSWORD") ?? "svc-Secret-0"
  static let passwords = [
    "alice": "alice-Secret-1", "bob": "bob-Secret-2", "carol": "carol-Secret-3",
    "dave": "d@ve (p4ss)*\\ \"wörd\",;=#", "o'brien,jr": "obrien-Secret-5",
  ]

  static let mappings = [
    LDAPGroupMapping(group: "llm-admins", role: "admin", tenant: "default"),
    LDAPGroupMapping(group: "cn=llm-auditors,ou=groups,dc=hearth,dc=test", role: "auditor", tenant: "compliance"),
    LDAPGroupMapping(group: "LLM-Developers", role: "developer", tenant: "research"),
  ]
  static let bothGroupStyles =
    "(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=posixGroup)(memberUid={username})))"

  /// Search-then-bind over ldap:// upgraded with StartTLS.
  static func startTLSConfig(ca: String? = LiveDirectory.ca, filter: String = "(uid={username})") -> LDAPAuthenticator.Config {
    LDAPAuthenticator.Config(
      url: ldapURL ?? "", startTLS: true, tls: LDAPTLSOptions(caFile: ca),
      userLookup: .search(bindDN: serviceDN, password: servicePassword, baseDN: "ou=people,\(base)", filter: filter),
      groupBaseDN: "ou=groups,\(base)", groupFilter: bothGroupStyles, mappings: mappings,
      connectTimeout: .seconds(10), operationTimeout: .seconds(30))
  }

  /// Direct bind with a DN template over ldaps://.
  static func ldapsConfig(tls: LDAPTLSOptions = LDAPTLSOptions(caFile: LiveDirectory.ca)) -> LDAPAuthenticator.Config {
    LDAPAuthenticator.Config(
      url: ldapsURL ?? "", tls: tls, userLookup: .dnTemplate("uid={username},ou=people,\(base)"),
      groupBaseDN: "ou=groups,\(base)", groupFilter: bothGroupStyles, mappings: mappings,
      connectTimeout: .seconds(10), operationTimeout: .seconds(30))
  }
}

@Suite struct LiveDirectoryRequirementTests {
  /// scripts/test sets HEARTH_REQUIRE_LDAP=1: then a missing directory fails the run instead of
  /// silently skipping every live test.
  @Test func theLiveDirectoryIsThereWhenRequired() {
    if LiveDirectory.required && !LiveDirectory.available {
      Issue.record(
        "HEARTH_REQUIRE_LDAP=1 but LDAP_URL, LDAPS_URL, LDAPS_MISMATCH_URL, LDAP_CA and LDAP_WRONG_CA are not all set: run `eval \"$(scripts/ldap-test-server start)\"` and export them")
    }
  }
}

@Suite(.enabled(if: LiveDirectory.available, "needs scripts/ldap-test-server (LDAP_URL, LDAPS_URL, LDAP_CA)"))
struct LiveDirectoryTests {
  let startTLS: LDAPAuthenticator
  let ldaps: LDAPAuthenticator

  init() throws {
    startTLS = try LDAPAuthenticator(config: LiveDirectory.startTLSConfig())
    ldaps = try LDAPAuthenticator(config: LiveDirectory.ldapsConfig())
  }

  func password(_ user: String) -> String { LiveDirectory.passwords[user]! }

  @Test func aliceLogsInOverStartTLSAsAdmin() async throws {
    let id = try await startTLS.authenticate(username: "alice", password: password("alice"))
    #expect(id == LDAPIdentity(
      username: "alice", dn: "uid=alice,ou=people,dc=hearth,dc=test", groups: ["cn=llm-admins,ou=groups,dc=hearth,dc=test"],
      role: "admin", tenant: "default", mappedGroup: "llm-admins"))
  }

  @Test func bobLogsInOverLDAPSAsDeveloper() async throws {
    let id = try await ldaps.authenticate(username: "bob", password: password("bob"))
    #expect(id.role == "developer" && id.tenant == "research" && id.mappedGroup == "LLM-Developers")
    #expect(Set(id.groups) == ["cn=llm-developers,ou=groups,dc=hearth,dc=test", "cn=wiki-editors,ou=groups,dc=hearth,dc=test"])
  }

  @Test func theStartTLSConnectionIsEncryptedBeforeTheBind() async throws {
    let url = try LDAPURL(LiveDirectory.ldapURL!)
    let c = try await LDAPConnection.connect(
      to: url, options: LDAPConnectionOptions(tls: LDAPTLSOptions(caFile: LiveDirectory.ca), startTLS: true))
    #expect(await c.isTLSActive)
    try await c.bind(dn: "uid=alice,ou=people,dc=hearth,dc=test", password: password("alice"))
    await c.close()
  }

  @Test func aWrongPasswordIsInvalidCredentials() async throws {
    await #expect(throws: LDAPError.invalidCredentials) { try await startTLS.authenticate(username: "alice", password: "alice-Secret-2") }
    await #expect(throws: LDAPError.invalidCredentials) { try await ldaps.authenticate(username: "bob", password: "Bob-Secret-2") }
  }

  @Test func anEmptyPasswordIsRefused() async throws {
    await #expect(throws: LDAPError.invalidCredentials) { try await startTLS.authenticate(username: "alice", password: "") }
    await #expect(throws: LDAPError.invalidCredentials) { try await ldaps.authenticate(username: "alice", password: "") }
  }

  @Test func aUserInNoGroupHasNoMappedGroup() async throws {
    await #expect(throws: LDAPError.noMappedGroup(groups: [])) {
      try await startTLS.authenticate(username: "carol", password: password("carol"))
    }
  }

  @Test func unknownUsersAreToldApartOnlyBySearch() async throws {
    await #expect(throws: LDAPError.userNotFound) { try await startTLS.authenticate(username: "mallory", password: "x") }
    // A DN template cannot tell a missing user from a wrong password: the directory answers 49 for both.
    await #expect(throws: LDAPError.invalidCredentials) { try await ldaps.authenticate(username: "mallory", password: "x") }
  }

  @Test func specialCharactersInPasswordsAndNamesWork() async throws {
    let dave = try await ldaps.authenticate(username: "dave", password: password("dave"))
    #expect(dave.dn == "uid=dave,ou=people,dc=hearth,dc=test")
    // o'brien,jr: the comma is escaped per RFC 4514 in the template and per RFC 4515 in the filter.
    let viaTemplate = try await ldaps.authenticate(username: "o'brien,jr", password: password("o'brien,jr"))
    let viaSearch = try await startTLS.authenticate(username: "o'brien,jr", password: password("o'brien,jr"))
    #expect(viaTemplate.role == "developer" && viaSearch.role == "developer")
    #expect(try LDAPDN.normalize(viaSearch.dn) == LDAPDN.normalize("uid=o'brien\\,jr,ou=people,dc=hearth,dc=test"))
  }

  @Test func theFirstMatchingMappingWins() async throws {
    // dave is in llm-developers (member) and llm-auditors (memberUid): auditor is listed first.
    let dave = try await startTLS.authenticate(username: "dave", password: password("dave"))
    #expect(dave.role == "auditor" && dave.tenant == "compliance")
    #expect(Set(dave.groups) == ["cn=llm-developers,ou=groups,dc=hearth,dc=test", "cn=llm-auditors,ou=groups,dc=hearth,dc=test"])
    var reversed = LiveDirectory.startTLSConfig()
    reversed.mappings.reverse()
    let again = try await LDAPAuthenticator(config: reversed).authenticate(username: "dave", password: password("dave"))
    #expect(again.role == "developer" && again.tenant == "research")
  }

  static let injections = [
    "*", "*)(uid=*", "admin)(|(uid=*", "alice)(uid=*", "alice*", "*alice", "al*", "alice)(|(objectClass=*)",
    "\\2a", "(uid=alice)", "ålice", "alice,ou=people,dc=hearth,dc=test", "alice+cn=x", "alice\\",
  ]

  /// With alice's real password, none of these may log in as anyone. Unescaped, `*` alone would
  /// match all five users (ambiguousUser) and `alice*` would log in as alice.
  @Test(arguments: injections)
  func injectedUsernamesMatchNoOne(username: String) async throws {
    await #expect(throws: LDAPError.userNotFound) { try await startTLS.authenticate(username: username, password: password("alice")) }
    await #expect(throws: LDAPError.invalidCredentials) { try await ldaps.authenticate(username: username, password: password("alice")) }
  }

  @Test func aNULInAUsernameIsRefusedBeforeTheDirectory() async throws {
    await #expect(throws: LDAPError.invalidUsername("contains control characters")) {
      try await startTLS.authenticate(username: "alice\u{0}", password: password("alice"))
    }
  }

  @Test func aFilterThatMatchesSeveralUsersIsAmbiguous() async throws {
    let loose = try LDAPAuthenticator(config: LiveDirectory.startTLSConfig(filter: "(|(uid={username})(objectClass=inetOrgPerson))"))
    await #expect(throws: LDAPError.ambiguousUser(count: 2)) { try await loose.authenticate(username: "alice", password: password("alice")) }
  }

  @Test func aWrongServiceAccountPasswordIsNotTheUsersFault() async throws {
    var config = LiveDirectory.startTLSConfig()
    config.userLookup = .search(bindDN: LiveDirectory.serviceDN, password: "wrong", baseDN: "ou=people,dc=hearth,dc=test", filter: "(uid={username})")
    let error = await #expect(throws: LDAPError.self) {
      try await LDAPAuthenticator(config: config).authenticate(username: "alice", password: password("alice"))
    }
    #expect(error?.isCredentialFailure == false)
    guard case .operationFailed("service account bind", 49, _) = error else { Issue.record("\(String(describing: error))"); return }
  }

  @Test func aMissingGroupBaseIsAnOperationFailure() async throws {
    var config = LiveDirectory.ldapsConfig()
    config.groupBaseDN = "ou=nowhere,dc=hearth,dc=test"
    let error = await #expect(throws: LDAPError.self) {
      try await LDAPAuthenticator(config: config).authenticate(username: "alice", password: password("alice"))
    }
    guard case .operationFailed(_, 32, _) = error else { Issue.record("\(String(describing: error))"); return }
  }

  @Test func theWrongCAIsATLSFailure() async throws {
    let viaLDAPS = try LDAPAuthenticator(config: LiveDirectory.ldapsConfig(tls: LDAPTLSOptions(caFile: LiveDirectory.wrongCA)))
    let viaStartTLS = try LDAPAuthenticator(config: LiveDirectory.startTLSConfig(ca: LiveDirectory.wrongCA))
    for auth in [viaLDAPS, viaStartTLS] {
      let error = await #expect(throws: LDAPError.self) { try await auth.authenticate(username: "alice", password: password("alice")) }
      guard case .tlsFailure = error else { Issue.record("\(String(describing: error))"); continue }
    }
  }

  @Test func aCertificateForAnotherAddressIsATLSFailure() async throws {
    // The same slapd on 127.0.0.2: its certificate names localhost and 127.0.0.1 only.
    var config = LiveDirectory.ldapsConfig()
    config.url = LiveDirectory.mismatchURL!
    let error = await #expect(throws: LDAPError.self) {
      try await LDAPAuthenticator(config: config).authenticate(username: "bob", password: password("bob"))
    }
    guard case .tlsFailure = error else { Issue.record("\(String(describing: error))"); return }
    // Checking against a name the certificate does carry works...
    config.tls = LDAPTLSOptions(caFile: LiveDirectory.ca, serverName: "localhost")
    #expect(try await LDAPAuthenticator(config: config).authenticate(username: "bob", password: password("bob")).role == "developer")
    // ...and so does the tests-only switch, which is exactly why it is tests-only.
    config.tls = LDAPTLSOptions(insecureSkipVerify: true)
    #expect(try await LDAPAuthenticator(config: config).authenticate(username: "bob", password: password("bob")).role == "developer")
  }

  @Test func plainLDAPWithoutStartTLSIsRefusedUnlessAllowed() throws {
    var config = LiveDirectory.startTLSConfig()
    config.startTLS = false
    #expect(throws: LDAPError.self) { try LDAPAuthenticator(config: config) }
  }

  @Test func anUnreachableDirectoryFailsWithinTheTimeout() async throws {
    let hole = try LoopbackBlackhole()
    for port in [try closedLoopbackPort(), hole.port] {
      var config = LiveDirectory.ldapsConfig()
      config.url = "ldaps://127.0.0.1:\(port)"
      config.connectTimeout = .seconds(1)
      let start = ContinuousClock.now
      let error = await #expect(throws: LDAPError.self) {
        try await LDAPAuthenticator(config: config).authenticate(username: "alice", password: password("alice"))
      }
      guard case .unreachable = error else { Issue.record("\(String(describing: error))"); continue }
      // The bound the hostile-server tests use: far above the 1 s limit, because the suites share
      // two cores and a clean CI run measured 21.5 s here (20 was the bound then), and far below
      // what no timeout would take (the blackhole drops SYNs: 127 s of retries on Linux).
      #expect(elapsed(since: start) < HostileServerTests.noHang)
    }
    withExtendedLifetime(hole) {}
  }
}

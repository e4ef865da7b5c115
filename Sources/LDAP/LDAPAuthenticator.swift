import NIOCore
import NIOPosix

/// Logs users in against a directory: a simple bind with their password over TLS, then a group
/// search whose results map to a role and a tenant. Each call uses its own connection, closed
/// before it returns; the configuration is checked once, in `init`.
public struct LDAPAuthenticator: Sendable {
  public let config: Config
  private let url: LDAPURL
  private let mappings: [ResolvedMapping]
  private let group: any EventLoopGroup

  /// The longest username accepted, in UTF-8 bytes; longer ones are refused before any traffic.
  public static let maxUsernameBytes = 256
  /// The longest password accepted, in UTF-8 bytes.
  public static let maxPasswordBytes = 1024

  public init(config: Config, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) throws(LDAPError) {
    let checked = try config.validated()
    self.config = config
    url = checked.url
    mappings = checked.mappings
    self.group = group
  }

  public func authenticate(username: String, password: String) async throws(LDAPError) -> LDAPIdentity {
    try Self.check(username: username)
    // An empty simple bind is an unauthenticated bind (RFC 4513 §5.1.2) that servers accept:
    // refuse it here, before any traffic.
    guard !password.isEmpty, password.utf8.count <= Self.maxPasswordBytes else { throw .invalidCredentials }
    let options = LDAPConnectionOptions(
      tls: config.tls, startTLS: config.startTLS, allowPasswordWithoutTLS: config.allowPasswordWithoutTLS,
      connectTimeout: config.connectTimeout, operationTimeout: config.operationTimeout,
      maxEntries: config.maxGroups)
    let connection = try await LDAPConnection.connect(to: url, options: options, group: group)
    do throws(LDAPError) {
      let identity = try await authenticate(on: connection, username: username, password: password)
      await connection.close()
      return identity
    } catch {
      await connection.close()
      throw error
    }
  }

  private func authenticate(on connection: LDAPConnection, username: String, password: String) async throws(LDAPError) -> LDAPIdentity {
    let userDN: String
    switch config.userLookup {
    case .dnTemplate(let template):
      userDN = try LDAPDN.build(template: template, values: ["username": username])
      try await connection.bind(dn: userDN, password: password)
    case .search(let bindDN, let servicePassword, let baseDN, let filter):
      try await bindService(connection, dn: bindDN, password: servicePassword)
      let found = try await connection.search(
        LDAPSearchRequest(
          baseDN: baseDN, scope: .wholeSubtree,
          filter: LDAPFilter.build(template: filter, values: ["username": username]),
          attributes: ["1.1"], sizeLimit: 2))
      guard !found.sizeLimitExceeded, found.entries.count <= 1 else {
        throw .ambiguousUser(count: found.entries.count)
      }
      guard let entry = found.entries.first else { throw .userNotFound }
      userDN = entry.dn
      try await connection.bind(dn: userDN, password: password)
      try await bindService(connection, dn: bindDN, password: servicePassword)
    }
    let groups = try await searchGroups(connection, username: username, userDN: userDN)
    for resolved in mappings where groups.contains(where: resolved.matches) {
      let m = resolved.mapping
      return LDAPIdentity(
        username: username, dn: userDN, groups: groups.map(\.dn), role: m.role, tenant: m.tenant, mappedGroup: m.group)
    }
    throw .noMappedGroup(groups: groups.map(\.dn))
  }

  private func bindService(_ connection: LDAPConnection, dn: String, password: String) async throws(LDAPError) {
    do throws(LDAPError) {
      try await connection.bind(dn: dn, password: password)
    } catch .invalidCredentials {
      // Not the user's fault: the configured service account is wrong.
      throw .operationFailed(
        operation: "service account bind", code: LDAPResult.invalidCredentials,
        message: "the directory refused the configured bind DN or password")
    }
  }

  private func searchGroups(_ connection: LDAPConnection, username: String, userDN: String) async throws(LDAPError) -> [FoundGroup] {
    let filter = try LDAPFilter.build(template: config.groupFilter, values: ["username": username, "dn": userDN])
    let result = try await connection.search(
      LDAPSearchRequest(
        baseDN: config.groupBaseDN, scope: .wholeSubtree, filter: filter,
        attributes: [config.groupNameAttribute], sizeLimit: Int32(clamping: config.maxGroups)))
    guard !result.sizeLimitExceeded else {
      // A partial list could pick a lower-precedence role: refuse instead.
      throw .operationFailed(
        operation: "group search", code: LDAPResult.sizeLimitExceeded,
        message: "the user is in more than \(config.maxGroups) groups")
    }
    return result.entries.map { FoundGroup(entry: $0, nameAttribute: config.groupNameAttribute) }
  }

  /// Refuses what cannot be a username before it reaches a filter or a DN: empty, over
  /// `maxUsernameBytes`, or containing control characters (NUL included). Everything else, the
  /// characters of RFC 4515 and RFC 4514 included, is allowed and escaped where it is used.
  public static func check(username: String) throws(LDAPError) {
    guard !username.isEmpty else { throw .invalidUsername("empty") }
    guard username.utf8.count <= maxUsernameBytes else {
      throw .invalidUsername("longer than \(maxUsernameBytes) bytes")
    }
    guard !username.unicodeScalars.contains(where: { $0.value < 0x20 || (0x7F...0x9F).contains($0.value) }) else {
      throw .invalidUsername("contains control characters")
    }
  }
}

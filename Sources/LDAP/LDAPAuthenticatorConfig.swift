/// One rule of the group mapping: members of `group` get `role` in `tenant`. `group` is a full
/// DN (it contains '=', compared case-insensitively after normalization) or a group name (compared
/// case-insensitively with the group's `cn`, or its first RDN value).
public struct LDAPGroupMapping: Equatable, Sendable {
  public var group: String
  public var role: String
  public var tenant: String

  public init(group: String, role: String, tenant: String) {
    self.group = group
    self.role = role
    self.tenant = tenant
  }
}

/// Who logged in: the directory's DN for the user, every group the search found (DNs), and the
/// role and tenant of the first mapping (in configuration order) that one of those groups matches.
public struct LDAPIdentity: Equatable, Sendable {
  /// The username as given; the directory may match it case-insensitively, so `dn` is the stable key.
  public var username: String
  public var dn: String
  public var groups: [String]
  public var role: String
  public var tenant: String
  /// The mapping's `group` that decided `role` and `tenant`.
  public var mappedGroup: String
}

extension LDAPAuthenticator {
  /// How a username becomes a DN.
  public enum UserLookup: Sendable, Equatable {
    /// Bind directly as the DN made from the template, e.g. `uid={username},ou=people,dc=example,dc=org`
    /// (the username is escaped per RFC 4514). A user that does not exist then looks like a wrong
    /// password (`invalidCredentials`); the group search runs as the user.
    case dnTemplate(String)
    /// Bind as a service account, search `baseDN` (whole subtree) with `filter`, e.g. `(uid={username})`
    /// (the username is escaped per RFC 4515); exactly one entry must match. Then bind as that entry
    /// to check the password, and bind as the service account again for the group search.
    case search(bindDN: String, password: String, baseDN: String, filter: String)
  }

  public struct Config: Sendable {
    /// `ldap://host[:port]` or `ldaps://host[:port]`.
    public var url: String
    /// Upgrade `ldap://` with StartTLS before the bind. Required for `ldap://` unless
    /// `allowPasswordWithoutTLS` is set.
    public var startTLS: Bool
    public var tls: LDAPTLSOptions
    /// Permit sending passwords over `ldap://` without StartTLS. Never in production.
    public var allowPasswordWithoutTLS: Bool
    public var userLookup: UserLookup
    /// Where groups live; searched with `groupFilter` over the whole subtree.
    public var groupBaseDN: String
    /// Placeholders: `{dn}` (the user's DN) and `{username}`, both escaped per RFC 4515. For
    /// `memberUid`-style groups: `(&(objectClass=posixGroup)(memberUid={username}))`; both styles
    /// at once: `(|(&(objectClass=groupOfNames)(member={dn}))(&(objectClass=posixGroup)(memberUid={username})))`.
    public var groupFilter: String
    /// The attribute that names a group, read for name-based mappings.
    public var groupNameAttribute: String
    /// In precedence order: the first mapping that any of the user's groups matches wins.
    public var mappings: [LDAPGroupMapping]
    public var connectTimeout: Duration
    /// The limit for each operation (StartTLS, handshake, bind, search) once connected.
    public var operationTimeout: Duration
    /// More groups than this for one user is refused rather than evaluated partially.
    public var maxGroups: Int

    public init(
      url: String, startTLS: Bool = false, tls: LDAPTLSOptions = LDAPTLSOptions(),
      allowPasswordWithoutTLS: Bool = false, userLookup: UserLookup, groupBaseDN: String,
      groupFilter: String = "(&(objectClass=groupOfNames)(member={dn}))", groupNameAttribute: String = "cn",
      mappings: [LDAPGroupMapping], connectTimeout: Duration = .seconds(5), operationTimeout: Duration = .seconds(10),
      maxGroups: Int = 500
    ) {
      self.url = url
      self.startTLS = startTLS
      self.tls = tls
      self.allowPasswordWithoutTLS = allowPasswordWithoutTLS
      self.userLookup = userLookup
      self.groupBaseDN = groupBaseDN
      self.groupFilter = groupFilter
      self.groupNameAttribute = groupNameAttribute
      self.mappings = mappings
      self.connectTimeout = connectTimeout
      self.operationTimeout = operationTimeout
      self.maxGroups = maxGroups
    }
  }
}

extension LDAPAuthenticator.Config {
  /// Checks everything that can be checked without a server, so that a bad configuration
  /// fails at startup, not at the first login.
  func validated() throws(LDAPError) -> (url: LDAPURL, mappings: [ResolvedMapping]) {
    let url = try LDAPURL(self.url)
    if url.scheme == .ldaps && startTLS {
      throw .invalidConfiguration("StartTLS is for ldap:// URLs; ldaps:// is TLS from the start")
    }
    if url.scheme == .ldap && !startTLS && !allowPasswordWithoutTLS {
      throw .invalidConfiguration("\(url) without StartTLS would send passwords in clear text; use ldaps:// or set startTLS")
    }
    let sample = ["username": "user", "dn": "uid=user,dc=example"]
    switch userLookup {
    case .dnTemplate(let template):
      guard template.contains("{username}") else {
        throw .invalidConfiguration("the bind DN template \(template.debugDescription) has no {username}")
      }
      _ = try LDAPDN.parse(LDAPDN.build(template: template, values: ["username": "user"]))
    case .search(let bindDN, let password, let baseDN, let filter):
      guard !bindDN.isEmpty, !password.isEmpty else {
        throw .invalidConfiguration("the service account needs a bind DN and a password")
      }
      guard filter.contains("{username}") else {
        throw .invalidConfiguration("the user filter \(filter.debugDescription) has no {username}")
      }
      _ = try LDAPDN.parse(baseDN)
      _ = try LDAPFilter.build(template: filter, values: ["username": "user"])
    }
    _ = try LDAPDN.parse(groupBaseDN)
    _ = try LDAPFilter.build(template: groupFilter, values: sample)
    guard !mappings.isEmpty else { throw .invalidConfiguration("no group mappings: nobody could log in") }
    guard maxGroups > 0 else { throw .invalidConfiguration("maxGroups must be positive") }
    guard connectTimeout > .zero, operationTimeout > .zero else {
      throw .invalidConfiguration("timeouts must be positive")
    }
    var resolved: [ResolvedMapping] = []
    for m in mappings {
      guard !m.group.isEmpty, !m.role.isEmpty, !m.tenant.isEmpty else {
        throw .invalidConfiguration("a group mapping needs a group, a role and a tenant: \(m)")
      }
      if m.group.contains("=") {
        let normalized: String
        do { normalized = try LDAPDN.normalize(m.group) } catch {
          throw .invalidConfiguration("group mapping \(m.group.debugDescription) is not a valid DN")
        }
        resolved.append(ResolvedMapping(mapping: m, normalizedDN: normalized, name: nil))
      } else {
        resolved.append(ResolvedMapping(mapping: m, normalizedDN: nil, name: m.group.lowercased()))
      }
    }
    return (url, resolved)
  }
}

/// A mapping with its group in the form it is compared in.
struct ResolvedMapping: Sendable {
  var mapping: LDAPGroupMapping
  var normalizedDN: String?
  var name: String?

  func matches(_ group: FoundGroup) -> Bool {
    if let normalizedDN { return group.normalizedDN == normalizedDN }
    if let name { return group.names.contains(name) }
    return false
  }
}

/// A group from the search: its DN, and the names it can be mapped by (lowercased).
struct FoundGroup: Sendable {
  var dn: String
  var normalizedDN: String?
  var names: Set<String>

  init(entry: LDAPEntry, nameAttribute: String) {
    dn = entry.dn
    normalizedDN = try? LDAPDN.normalize(entry.dn)
    var names = Set(entry.values(of: nameAttribute).map { $0.lowercased() })
    if let first = (try? LDAPDN.parse(entry.dn))?.first?.first { names.insert(first.value.lowercased()) }
    self.names = names
  }
}

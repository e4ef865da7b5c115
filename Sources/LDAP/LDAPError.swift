/// Everything the LDAP module can fail with. The first three are the user's fault (answer 401);
/// the rest are the directory's or the configuration's (answer 503 or fail at startup).
public enum LDAPError: Error, Equatable, Sendable, CustomStringConvertible {
  /// Wrong password, an empty password (refused before any network traffic: an empty simple
  /// bind is an anonymous bind that succeeds), or, with a DN template, a user that does not exist.
  case invalidCredentials
  /// The user search found no entry (search-then-bind only).
  case userNotFound
  /// The user search found more than one entry: the filter is not specific enough.
  case ambiguousUser(count: Int)
  /// The password is right but none of the user's groups is mapped to a role.
  case noMappedGroup(groups: [String])
  /// The username is empty, too long or contains control characters; refused before any traffic.
  case invalidUsername(String)
  /// The directory could not be reached: connection refused, host unknown, connect timed out.
  case unreachable(String)
  /// The directory accepted the connection but did not answer an operation in time.
  case timeout(String)
  /// The TLS handshake failed: untrusted or mismatched certificate, TLS not offered, StartTLS refused.
  case tlsFailure(String)
  /// The server broke the protocol: malformed or oversized message, unexpected answer, dropped connection.
  case protocolError(String)
  /// The server answered an operation with a result code that is not success, for example a
  /// service account whose password is wrong or a search base that does not exist.
  case operationFailed(operation: String, code: Int, message: String)
  /// The configuration is unusable: a bad URL, template, filter or CA file, or a policy refusal
  /// such as a password bind over a connection without TLS.
  case invalidConfiguration(String)

  public var description: String {
    switch self {
    case .invalidCredentials: "LDAP: invalid credentials"
    case .userNotFound: "LDAP: user not found"
    case .ambiguousUser(let n): "LDAP: the user search matched \(n) entries; it must match exactly one"
    case .noMappedGroup(let groups):
      "LDAP: the user is in no group mapped to a role (groups: \(groups.isEmpty ? "none" : groups.joined(separator: "; ")))"
    case .invalidUsername(let why): "LDAP: invalid username: \(why)"
    case .unreachable(let why): "LDAP: directory unreachable: \(why)"
    case .timeout(let why): "LDAP: timed out: \(why)"
    case .tlsFailure(let why): "LDAP: TLS failure: \(why)"
    case .protocolError(let why): "LDAP: protocol error: \(why)"
    case .operationFailed(let op, let code, let message):
      "LDAP: \(op) failed with result code \(code)\(message.isEmpty ? "" : ": \(message)")"
    case .invalidConfiguration(let why): "LDAP: invalid configuration: \(why)"
    }
  }

  /// True for failures caused by what the user typed (answer 401), false for directory or
  /// configuration trouble (answer 503 or refuse to start).
  public var isCredentialFailure: Bool {
    switch self {
    case .invalidCredentials, .userNotFound, .noMappedGroup, .invalidUsername: true
    default: false
    }
  }
}

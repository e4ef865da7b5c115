import ControlPlane
import Foundation
import LDAP

/// The `--ldap-config FILE` of `hearth serve`: a JSON file that says how to reach the directory and
/// how its groups map to roles and tenants. See docs/security.md for an example.
public struct LDAPSettings: Sendable {
  public var authenticator: LDAPAuthenticator.Config
  /// Lifetime of a login session, seconds.
  public var sessionTTL: TimeInterval
  public var maxFailedLogins: Int
  public var failedLoginWindow: TimeInterval

  struct File: Decodable {
    struct Search: Decodable {
      var bindDN: String
      var password: String?
      /// The service account's password from this environment variable instead of the file.
      var passwordEnv: String?
      var baseDN: String
      var filter: String?

      enum CodingKeys: String, CodingKey {
        case password, filter
        case bindDN = "bind_dn", passwordEnv = "password_env", baseDN = "base_dn"
      }
    }
    struct Mapping: Decodable {
      var group, role, tenant: String
    }
    var url: String
    var startTLS: Bool?
    var caFile: String?
    var serverName: String?
    var insecureSkipVerify: Bool?
    var userDNTemplate: String?
    var userSearch: Search?
    var groupBaseDN: String
    var groupFilter: String?
    var groupNameAttribute: String?
    var mappings: [Mapping]
    var connectTimeoutSeconds: Double?
    var operationTimeoutSeconds: Double?
    var sessionTTLSeconds: Double?
    var maxFailedLogins: Int?
    var failedLoginWindowSeconds: Double?

    enum CodingKeys: String, CodingKey {
      case url, mappings
      case startTLS = "start_tls", caFile = "ca_file", serverName = "server_name", insecureSkipVerify = "insecure_skip_verify"
      case userDNTemplate = "user_dn_template", userSearch = "user_search", groupBaseDN = "group_base_dn"
      case groupFilter = "group_filter", groupNameAttribute = "group_name_attribute"
      case connectTimeoutSeconds = "connect_timeout_seconds", operationTimeoutSeconds = "operation_timeout_seconds"
      case sessionTTLSeconds = "session_ttl_seconds", maxFailedLogins = "max_failed_logins"
      case failedLoginWindowSeconds = "failed_login_window_seconds"
    }
  }

  public init(authenticator: LDAPAuthenticator.Config, sessionTTL: TimeInterval = 900, maxFailedLogins: Int = 5, failedLoginWindow: TimeInterval = 300) {
    self.authenticator = authenticator
    self.sessionTTL = sessionTTL
    self.maxFailedLogins = maxFailedLogins
    self.failedLoginWindow = failedLoginWindow
  }

  /// Reads and checks the file; every problem is one line naming the file and the field.
  public static func load(path: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> LDAPSettings {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw ServerConfigError("--ldap-config: cannot read \(path)")
    }
    let f: File
    do {
      let d = JSONDecoder()
      f = try d.decode(File.self, from: data)
    } catch DecodingError.keyNotFound(let key, _) {
      throw ServerConfigError("--ldap-config \(path): missing field '\(key.stringValue)'")
    } catch DecodingError.typeMismatch(_, let c), DecodingError.valueNotFound(_, let c) {
      throw ServerConfigError("--ldap-config \(path): wrong type at '\(c.codingPath.map(\.stringValue).joined(separator: "."))'")
    } catch {
      throw ServerConfigError("--ldap-config \(path): not valid JSON")
    }
    for m in f.mappings where Role(name: m.role) == nil {
      throw ServerConfigError("--ldap-config \(path): mapping for group '\(m.group)' has unknown role '\(m.role)'")
    }
    let lookup: LDAPAuthenticator.UserLookup
    switch (f.userDNTemplate, f.userSearch) {
    case (let t?, nil):
      lookup = .dnTemplate(t)
    case (nil, let s?):
      guard let pw = s.passwordEnv.map({ environment[$0] }) ?? s.password, !pw.isEmpty else {
        throw ServerConfigError("--ldap-config \(path): user_search needs 'password' or 'password_env' naming a set variable")
      }
      lookup = .search(bindDN: s.bindDN, password: pw, baseDN: s.baseDN, filter: s.filter ?? "(uid={username})")
    default:
      throw ServerConfigError("--ldap-config \(path): give exactly one of 'user_dn_template' and 'user_search'")
    }
    func seconds(_ v: Double?, _ name: String, default d: Double) throws -> Double {
      guard let v else { return d }
      guard v > 0, v <= 86400 * 7 else { throw ServerConfigError("--ldap-config \(path): '\(name)' must be between 0 and 604800 seconds") }
      return v
    }
    var config = LDAPAuthenticator.Config(
      url: f.url, startTLS: f.startTLS ?? false,
      tls: LDAPTLSOptions(caFile: f.caFile, insecureSkipVerify: f.insecureSkipVerify ?? false, serverName: f.serverName),
      userLookup: lookup, groupBaseDN: f.groupBaseDN, mappings: f.mappings.map { LDAPGroupMapping(group: $0.group, role: $0.role, tenant: $0.tenant) })
    if let g = f.groupFilter { config.groupFilter = g }
    if let a = f.groupNameAttribute { config.groupNameAttribute = a }
    config.connectTimeout = .milliseconds(Int(try seconds(f.connectTimeoutSeconds, "connect_timeout_seconds", default: 5) * 1000))
    config.operationTimeout = .milliseconds(Int(try seconds(f.operationTimeoutSeconds, "operation_timeout_seconds", default: 10) * 1000))
    let maxFailed = f.maxFailedLogins ?? 5
    guard (1...1000).contains(maxFailed) else { throw ServerConfigError("--ldap-config \(path): 'max_failed_logins' must be between 1 and 1000") }
    return LDAPSettings(
      authenticator: config, sessionTTL: try seconds(f.sessionTTLSeconds, "session_ttl_seconds", default: 900), maxFailedLogins: maxFailed,
      failedLoginWindow: try seconds(f.failedLoginWindowSeconds, "failed_login_window_seconds", default: 300))
  }
}

/// A configuration problem found at startup: one line, naming the option.
public struct ServerConfigError: Error, CustomStringConvertible, Sendable {
  public let description: String
  public init(_ description: String) { self.description = description }
}

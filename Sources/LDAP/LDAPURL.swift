/// `ldap://host[:port]` (default port 389) or `ldaps://host[:port]` (default 636). IPv6 hosts are
/// written in brackets: `ldaps://[::1]:636`. A path, query or user part is refused: base DNs and
/// filters belong in the configuration, where they are validated.
public struct LDAPURL: Equatable, Sendable, CustomStringConvertible {
  public enum Scheme: String, Sendable {
    case ldap
    case ldaps
  }

  public var scheme: Scheme
  public var host: String
  public var port: Int

  public init(scheme: Scheme, host: String, port: Int? = nil) {
    self.scheme = scheme
    self.host = host
    self.port = port ?? (scheme == .ldaps ? 636 : 389)
  }

  public init(_ string: String) throws(LDAPError) {
    func bad(_ why: String) -> LDAPError { .invalidConfiguration("LDAP URL \(string.debugDescription): \(why)") }
    guard let sep = string.firstRange(of: "://") else { throw bad("expected ldap://host[:port] or ldaps://host[:port]") }
    guard let scheme = Scheme(rawValue: string[..<sep.lowerBound].lowercased()) else {
      throw bad("the scheme must be ldap or ldaps")
    }
    var rest = Substring(string[sep.upperBound...])
    if rest.hasSuffix("/") { rest = rest.dropLast() }
    guard !rest.isEmpty else { throw bad("missing host") }
    guard !rest.contains(where: { "/?@#".contains($0) }) else { throw bad("only scheme, host and port are allowed") }
    var host: Substring
    var portText: Substring?
    if rest.hasPrefix("[") {
      guard let close = rest.firstIndex(of: "]") else { throw bad("unclosed '[' in an IPv6 host") }
      host = rest[rest.index(after: rest.startIndex)..<close]
      let after = rest[rest.index(after: close)...]
      if !after.isEmpty {
        guard after.hasPrefix(":") else { throw bad("unexpected text after the IPv6 host") }
        portText = after.dropFirst()
      }
    } else if let colon = rest.firstIndex(of: ":") {
      host = rest[..<colon]
      portText = rest[rest.index(after: colon)...]
    } else {
      host = rest
    }
    guard !host.isEmpty, host.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else { throw bad("invalid host") }
    var port: Int?
    if let portText {
      guard let p = Int(portText), (1...65535).contains(p) else { throw bad("the port must be 1-65535") }
      port = p
    }
    self.init(scheme: scheme, host: String(host), port: port)
  }

  public var description: String {
    "\(scheme.rawValue)://\(host.contains(":") ? "[\(host)]" : host):\(port)"
  }

  /// True when the host is an IP address literal: TLS then checks the certificate's IP SAN and
  /// sends no SNI (RFC 6066 forbids addresses there).
  var hostIsIPAddress: Bool {
    if host.contains(":") { return true }
    let parts = host.split(separator: ".", omittingEmptySubsequences: false)
    return parts.count == 4 && parts.allSatisfy { UInt8($0) != nil }
  }
}

/// The LDAPv3 messages Hearth sends and understands (RFC 4511 §4). Requests are encoded by the
/// client; responses are decoded from the server (`LDAPMessage+Decode.swift`). Both directions are
/// implemented for every operation so that round trips can be tested without a server.
public struct LDAPMessage: Equatable, Sendable {
  public var id: Int32
  public var operation: LDAPOperation

  public init(id: Int32, operation: LDAPOperation) {
    self.id = id
    self.operation = operation
  }
}

/// RFC 4511 §4.1.9. `referrals` are the URIs of a referral result (code 10); Hearth does not chase them.
public struct LDAPResult: Equatable, Sendable {
  public var code: Int
  public var matchedDN: String
  public var diagnosticMessage: String
  public var referrals: [String]

  public init(code: Int, matchedDN: String = "", diagnosticMessage: String = "", referrals: [String] = []) {
    self.code = code
    self.matchedDN = matchedDN
    self.diagnosticMessage = diagnosticMessage
    self.referrals = referrals
  }

  public static let success = 0
  public static let sizeLimitExceeded = 4
  public static let referral = 10
  public static let noSuchObject = 32
  public static let invalidCredentials = 49
}

public enum LDAPSearchScope: Int, Sendable {
  case baseObject = 0
  case singleLevel = 1
  case wholeSubtree = 2
}

public struct LDAPSearchRequest: Equatable, Sendable {
  public var baseDN: String
  public var scope: LDAPSearchScope
  /// 0 = never dereference aliases: authentication must not follow directory indirections.
  public var derefAliases: Int
  public var sizeLimit: Int32
  public var timeLimitSeconds: Int32
  public var typesOnly: Bool
  public var filter: LDAPFilter
  public var attributes: [String]

  public init(
    baseDN: String, scope: LDAPSearchScope, filter: LDAPFilter, attributes: [String],
    sizeLimit: Int32 = 0, timeLimitSeconds: Int32 = 0, derefAliases: Int = 0, typesOnly: Bool = false
  ) {
    self.baseDN = baseDN
    self.scope = scope
    self.filter = filter
    self.attributes = attributes
    self.sizeLimit = sizeLimit
    self.timeLimitSeconds = timeLimitSeconds
    self.derefAliases = derefAliases
    self.typesOnly = typesOnly
  }
}

public struct LDAPAttribute: Equatable, Sendable {
  public var name: String
  public var values: [[UInt8]]

  public init(name: String, values: [[UInt8]]) {
    self.name = name
    self.values = values
  }

  /// The values that are valid UTF-8, as strings.
  public var stringValues: [String] { values.compactMap { String(validating: $0, as: UTF8.self) } }
}

public struct LDAPEntry: Equatable, Sendable {
  public var dn: String
  public var attributes: [LDAPAttribute]

  public init(dn: String, attributes: [LDAPAttribute]) {
    self.dn = dn
    self.attributes = attributes
  }

  /// The string values of attribute `name` (attribute names compare case-insensitively).
  public func values(of name: String) -> [String] {
    attributes.filter { $0.name.lowercased() == name.lowercased() }.flatMap(\.stringValues)
  }
}

public enum LDAPOperation: Equatable, Sendable {
  case bindRequest(version: Int, name: String, password: [UInt8])
  case bindResponse(LDAPResult)
  case unbindRequest
  case searchRequest(LDAPSearchRequest)
  case searchResultEntry(LDAPEntry)
  case searchResultDone(LDAPResult)
  case searchResultReference([String])
  case extendedRequest(name: String, value: [UInt8]?)
  case extendedResponse(LDAPResult, name: String?, value: [UInt8]?)

  /// What the operation is called in error messages.
  public var name: String {
    switch self {
    case .bindRequest: "BindRequest"
    case .bindResponse: "BindResponse"
    case .unbindRequest: "UnbindRequest"
    case .searchRequest: "SearchRequest"
    case .searchResultEntry: "SearchResultEntry"
    case .searchResultDone: "SearchResultDone"
    case .searchResultReference: "SearchResultReference"
    case .extendedRequest: "ExtendedRequest"
    case .extendedResponse: "ExtendedResponse"
    }
  }
}

/// Application tag numbers of the protocol operations (RFC 4511 Appendix B).
enum LDAPOpTag {
  static let bindRequest: UInt8 = 0
  static let bindResponse: UInt8 = 1
  static let unbindRequest: UInt8 = 2
  static let searchRequest: UInt8 = 3
  static let searchResultEntry: UInt8 = 4
  static let searchResultDone: UInt8 = 5
  static let searchResultReference: UInt8 = 19
  static let extendedRequest: UInt8 = 23
  static let extendedResponse: UInt8 = 24
}

public enum LDAPOID {
  /// RFC 4511 §4.14.1.
  public static let startTLS = "1.3.6.1.4.1.1466.20037"
  /// RFC 4511 §4.4.1: the unsolicited notification a server sends before it drops the connection.
  public static let noticeOfDisconnection = "1.3.6.1.4.1.1466.20036"
}

extension LDAPMessage {
  /// The BER encoding of this message: `LDAPMessage ::= SEQUENCE { messageID, protocolOp }`.
  public func encoded() -> [UInt8] {
    var w = BERWriter()
    w.writeConstructed(tag: BERTag.sequence) { w in
      w.writeInteger(Int64(id))
      operation.encode(into: &w)
    }
    return w.bytes
  }
}

extension LDAPOperation {
  func encode(into w: inout BERWriter) {
    let app = BERTag.application
    switch self {
    case .bindRequest(let version, let name, let password):
      w.writeConstructed(tag: app(LDAPOpTag.bindRequest, true)) { w in
        w.writeInteger(Int64(version))
        w.writeOctetString(name)
        w.writeOctetString(password, tag: BERTag.context(0, constructed: false))
      }
    case .bindResponse(let result):
      w.writeConstructed(tag: app(LDAPOpTag.bindResponse, true)) { result.encode(into: &$0) }
    case .unbindRequest:
      w.writeTLV(tag: app(LDAPOpTag.unbindRequest, false), contents: [])
    case .searchRequest(let s):
      w.writeConstructed(tag: app(LDAPOpTag.searchRequest, true)) { w in
        w.writeOctetString(s.baseDN)
        w.writeInteger(Int64(s.scope.rawValue), tag: BERTag.enumerated)
        w.writeInteger(Int64(s.derefAliases), tag: BERTag.enumerated)
        w.writeInteger(Int64(s.sizeLimit))
        w.writeInteger(Int64(s.timeLimitSeconds))
        w.writeBoolean(s.typesOnly)
        s.filter.encode(into: &w)
        w.writeConstructed(tag: BERTag.sequence) { w in
          for a in s.attributes { w.writeOctetString(a) }
        }
      }
    case .searchResultEntry(let e):
      w.writeConstructed(tag: app(LDAPOpTag.searchResultEntry, true)) { w in
        w.writeOctetString(e.dn)
        w.writeConstructed(tag: BERTag.sequence) { w in
          for a in e.attributes {
            w.writeConstructed(tag: BERTag.sequence) { w in
              w.writeOctetString(a.name)
              w.writeConstructed(tag: BERTag.set) { w in
                for v in a.values { w.writeOctetString(v) }
              }
            }
          }
        }
      }
    case .searchResultDone(let result):
      w.writeConstructed(tag: app(LDAPOpTag.searchResultDone, true)) { result.encode(into: &$0) }
    case .searchResultReference(let uris):
      w.writeConstructed(tag: app(LDAPOpTag.searchResultReference, true)) { w in
        for u in uris { w.writeOctetString(u) }
      }
    case .extendedRequest(let name, let value):
      w.writeConstructed(tag: app(LDAPOpTag.extendedRequest, true)) { w in
        w.writeOctetString(name, tag: BERTag.context(0, constructed: false))
        if let value { w.writeOctetString(value, tag: BERTag.context(1, constructed: false)) }
      }
    case .extendedResponse(let result, let name, let value):
      w.writeConstructed(tag: app(LDAPOpTag.extendedResponse, true)) { w in
        result.encode(into: &w)
        if let name { w.writeOctetString(name, tag: BERTag.context(10, constructed: false)) }
        if let value { w.writeOctetString(value, tag: BERTag.context(11, constructed: false)) }
      }
    }
  }
}

extension LDAPResult {
  func encode(into w: inout BERWriter) {
    w.writeInteger(Int64(code), tag: BERTag.enumerated)
    w.writeOctetString(matchedDN)
    w.writeOctetString(diagnosticMessage)
    if !referrals.isEmpty {
      w.writeConstructed(tag: BERTag.context(3, constructed: true)) { w in
        for r in referrals { w.writeOctetString(r) }
      }
    }
  }
}

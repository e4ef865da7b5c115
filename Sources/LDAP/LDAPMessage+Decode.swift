extension LDAPMessage {
  /// Decodes one complete message. Every length is checked against the bytes given, trailing
  /// bytes are refused, and nothing recurses deeper than `LDAPFilter.maxDepth`.
  public static func decode(_ bytes: [UInt8]) throws(LDAPError) -> LDAPMessage {
    do {
      var outer = BERReader(bytes)
      var seq = try outer.read(tag: BERTag.sequence, "LDAPMessage")
      try outer.expectEnd("LDAPMessage")
      let rawID = try seq.readInteger("messageID")
      guard (0...Int64(Int32.max)).contains(rawID) else { throw BERError("messageID \(rawID) is out of range") }
      let op = try LDAPOperation.decode(from: &seq)
      // Controls ([0]) are allowed and ignored: nothing Hearth asks for returns any it needs.
      _ = try seq.readIfPresent(tag: BERTag.context(0, constructed: true))
      try seq.expectEnd("LDAPMessage")
      return LDAPMessage(id: Int32(rawID), operation: op)
    } catch let e as BERError {
      throw .protocolError("malformed LDAP message: \(e.description)")
    } catch {
      throw .protocolError("malformed LDAP message: \(error)")
    }
  }
}

extension LDAPOperation {
  static func decode(from r: inout BERReader) throws -> LDAPOperation {
    let (tag, body) = try r.readElement()
    var c = body
    guard tag & 0xC0 == 0x40 else { throw BERError("protocolOp: expected an application tag, found 0x\(hex(tag))") }
    let number = tag & 0x1F
    let constructed = BERTag.isConstructed(tag)
    let op: LDAPOperation
    switch (number, constructed) {
    case (LDAPOpTag.bindRequest, true):
      let version = try c.readInteger("BindRequest version")
      let name = try c.readString("BindRequest name")
      let ctag = try c.peekTag()
      guard ctag == BERTag.context(0, constructed: false) else {
        throw BERError("BindRequest: only simple authentication is supported, found 0x\(hex(ctag))")
      }
      let password = try c.readOctetString(tag: ctag, "BindRequest password")
      guard (1...127).contains(version) else { throw BERError("BindRequest version \(version) is out of range") }
      op = .bindRequest(version: Int(version), name: name, password: password)
    case (LDAPOpTag.bindResponse, true):
      let result = try LDAPResult.decode(from: &c, "BindResponse")
      _ = try c.readIfPresent(tag: BERTag.context(7, constructed: false))  // serverSaslCreds
      op = .bindResponse(result)
    case (LDAPOpTag.unbindRequest, false):
      op = .unbindRequest  // NULL: no contents, which expectEnd below checks
    case (LDAPOpTag.searchRequest, true):
      op = .searchRequest(try LDAPSearchRequest.decode(from: &c))
    case (LDAPOpTag.searchResultEntry, true):
      op = .searchResultEntry(try LDAPEntry.decode(from: &c))
    case (LDAPOpTag.searchResultDone, true):
      op = .searchResultDone(try LDAPResult.decode(from: &c, "SearchResultDone"))
    case (LDAPOpTag.searchResultReference, true):
      var uris: [String] = []
      while !c.isAtEnd { uris.append(try c.readString("SearchResultReference URI")) }
      guard !uris.isEmpty else { throw BERError("SearchResultReference without a URI") }
      op = .searchResultReference(uris)
    case (LDAPOpTag.extendedRequest, true):
      let name = try c.readString(tag: BERTag.context(0, constructed: false), "ExtendedRequest name")
      let value = try c.readIfPresent(tag: BERTag.context(1, constructed: false))?.contentBytes
      op = .extendedRequest(name: name, value: value)
    case (LDAPOpTag.extendedResponse, true):
      let result = try LDAPResult.decode(from: &c, "ExtendedResponse")
      var name: String?
      if c.isAtEnd == false, try c.peekTag() == BERTag.context(10, constructed: false) {
        name = try c.readString(tag: BERTag.context(10, constructed: false), "ExtendedResponse name")
      }
      let value = try c.readIfPresent(tag: BERTag.context(11, constructed: false))?.contentBytes
      op = .extendedResponse(result, name: name, value: value)
    default:
      throw BERError("unsupported protocol operation [APPLICATION \(number)]")
    }
    try c.expectEnd(op.name)
    return op
  }
}

extension LDAPResult {
  static func decode(from r: inout BERReader, _ what: String) throws -> LDAPResult {
    let code = try r.readInteger(tag: BERTag.enumerated, "\(what) resultCode")
    guard (0...Int64(Int32.max)).contains(code) else { throw BERError("\(what) resultCode \(code) is out of range") }
    let matched = try r.readString("\(what) matchedDN")
    let message = try r.readString("\(what) diagnosticMessage")
    var referrals: [String] = []
    if var refs = try r.readIfPresent(tag: BERTag.context(3, constructed: true)) {
      while !refs.isAtEnd { referrals.append(try refs.readString("\(what) referral URI")) }
    }
    return LDAPResult(code: Int(code), matchedDN: matched, diagnosticMessage: message, referrals: referrals)
  }
}

extension LDAPEntry {
  static func decode(from r: inout BERReader) throws -> LDAPEntry {
    let dn = try r.readString("SearchResultEntry objectName")
    var list = try r.read(tag: BERTag.sequence, "SearchResultEntry attributes")
    var attributes: [LDAPAttribute] = []
    while !list.isAtEnd {
      var pa = try list.read(tag: BERTag.sequence, "PartialAttribute")
      let name = try pa.readString("attribute description")
      var set = try pa.read(tag: BERTag.set, "attribute values")
      var values: [[UInt8]] = []
      while !set.isAtEnd { values.append(try set.readOctetString("attribute value")) }
      try pa.expectEnd("PartialAttribute")
      attributes.append(LDAPAttribute(name: name, values: values))
    }
    return LDAPEntry(dn: dn, attributes: attributes)
  }
}

extension LDAPSearchRequest {
  static func decode(from r: inout BERReader) throws -> LDAPSearchRequest {
    let base = try r.readString("SearchRequest baseObject")
    let scopeRaw = try r.readInteger(tag: BERTag.enumerated, "SearchRequest scope")
    guard let scope = LDAPSearchScope(rawValue: Int(clamping: scopeRaw)) else {
      throw BERError("SearchRequest scope \(scopeRaw) is unknown")
    }
    let deref = try r.readInteger(tag: BERTag.enumerated, "SearchRequest derefAliases")
    guard (0...3).contains(deref) else { throw BERError("SearchRequest derefAliases \(deref) is unknown") }
    let size = try r.readInteger("SearchRequest sizeLimit")
    let time = try r.readInteger("SearchRequest timeLimit")
    guard (0...Int64(Int32.max)).contains(size), (0...Int64(Int32.max)).contains(time) else {
      throw BERError("SearchRequest limits are out of range")
    }
    let typesOnly = try r.readBoolean("SearchRequest typesOnly")
    let filter = try LDAPFilter.decode(from: &r, depth: 0)
    var attrs = try r.read(tag: BERTag.sequence, "SearchRequest attributes")
    var names: [String] = []
    while !attrs.isAtEnd { names.append(try attrs.readString("attribute selector")) }
    return LDAPSearchRequest(
      baseDN: base, scope: scope, filter: filter, attributes: names, sizeLimit: Int32(size),
      timeLimitSeconds: Int32(time), derefAliases: Int(deref), typesOnly: typesOnly)
  }
}

/// An LDAP search filter (RFC 4511 §4.5.1.7). Values are raw bytes: escaping belongs to the string
/// form only (`LDAPFilter.parse`, `LDAPFilter.escape`), so a value can never change the structure.
public indirect enum LDAPFilter: Equatable, Sendable {
  case and([LDAPFilter])
  case or([LDAPFilter])
  case not(LDAPFilter)
  case equality(String, [UInt8])
  case substrings(String, initial: [UInt8]?, any: [[UInt8]], final: [UInt8]?)
  case greaterOrEqual(String, [UInt8])
  case lessOrEqual(String, [UInt8])
  case present(String)
  case approx(String, [UInt8])
  case extensible(matchingRule: String?, attribute: String?, value: [UInt8], dnAttributes: Bool)

  /// Nesting deeper than this is refused when parsing or decoding.
  public static let maxDepth = 32

  /// `attribute=value` with a string value.
  public static func equality(_ attribute: String, _ value: String) -> LDAPFilter {
    .equality(attribute, Array(value.utf8))
  }
}

extension LDAPFilter {
  func encode(into w: inout BERWriter) {
    let ctx = BERTag.context
    switch self {
    case .and(let list):
      w.writeConstructed(tag: ctx(0, true)) { w in for f in list { f.encode(into: &w) } }
    case .or(let list):
      w.writeConstructed(tag: ctx(1, true)) { w in for f in list { f.encode(into: &w) } }
    case .not(let f):
      w.writeConstructed(tag: ctx(2, true)) { f.encode(into: &$0) }
    case .equality(let a, let v): Self.writeAssertion(&w, tag: ctx(3, true), a, v)
    case .substrings(let a, let initial, let any, let final):
      w.writeConstructed(tag: ctx(4, true)) { w in
        w.writeOctetString(a)
        w.writeConstructed(tag: BERTag.sequence) { w in
          if let initial { w.writeOctetString(initial, tag: ctx(0, false)) }
          for part in any { w.writeOctetString(part, tag: ctx(1, false)) }
          if let final { w.writeOctetString(final, tag: ctx(2, false)) }
        }
      }
    case .greaterOrEqual(let a, let v): Self.writeAssertion(&w, tag: ctx(5, true), a, v)
    case .lessOrEqual(let a, let v): Self.writeAssertion(&w, tag: ctx(6, true), a, v)
    case .present(let a): w.writeOctetString(a, tag: ctx(7, false))
    case .approx(let a, let v): Self.writeAssertion(&w, tag: ctx(8, true), a, v)
    case .extensible(let rule, let attribute, let value, let dnAttributes):
      w.writeConstructed(tag: ctx(9, true)) { w in
        if let rule { w.writeOctetString(rule, tag: ctx(1, false)) }
        if let attribute { w.writeOctetString(attribute, tag: ctx(2, false)) }
        w.writeOctetString(value, tag: ctx(3, false))
        if dnAttributes { w.writeBoolean(true, tag: ctx(4, false)) }
      }
    }
  }

  private static func writeAssertion(_ w: inout BERWriter, tag: UInt8, _ attribute: String, _ value: [UInt8]) {
    w.writeConstructed(tag: tag) { w in
      w.writeOctetString(attribute)
      w.writeOctetString(value)
    }
  }

  static func decode(from r: inout BERReader, depth: Int) throws -> LDAPFilter {
    guard depth < maxDepth else { throw BERError("filter nested deeper than \(maxDepth)") }
    let (tag, body) = try r.readElement()
    var c = body
    let ctx = BERTag.context
    let filter: LDAPFilter
    switch tag {
    case ctx(0, true), ctx(1, true):
      var list: [LDAPFilter] = []
      while !c.isAtEnd { list.append(try decode(from: &c, depth: depth + 1)) }
      filter = tag == ctx(0, true) ? .and(list) : .or(list)
    case ctx(2, true):
      filter = .not(try decode(from: &c, depth: depth + 1))
    case ctx(3, true), ctx(5, true), ctx(6, true), ctx(8, true):
      let a = try c.readString("filter attribute")
      let v = try c.readOctetString("filter value")
      switch tag {
      case ctx(3, true): filter = .equality(a, v)
      case ctx(5, true): filter = .greaterOrEqual(a, v)
      case ctx(6, true): filter = .lessOrEqual(a, v)
      default: filter = .approx(a, v)
      }
    case ctx(4, true):
      let a = try c.readString("substring attribute")
      var parts = try c.read(tag: BERTag.sequence, "substrings")
      var initial: [UInt8]?, any: [[UInt8]] = [], final: [UInt8]?
      while !parts.isAtEnd {
        let (ptag, p) = try parts.readElement()
        switch ptag {
        case ctx(0, false) where initial == nil && any.isEmpty && final == nil: initial = p.contentBytes
        case ctx(1, false) where final == nil: any.append(p.contentBytes)
        case ctx(2, false) where final == nil: final = p.contentBytes
        default: throw BERError("substrings: unexpected or misplaced part 0x\(hex(ptag))")
        }
      }
      guard initial != nil || !any.isEmpty || final != nil else { throw BERError("substrings filter without parts") }
      filter = .substrings(a, initial: initial, any: any, final: final)
    case ctx(7, false):
      guard let a = String(validating: c.contentBytes, as: UTF8.self) else {
        throw BERError("present filter attribute is not valid UTF-8")
      }
      filter = .present(a)
      c = BERReader([])
    case ctx(9, true):
      var rule: String?, attribute: String?
      if let x = try c.readIfPresent(tag: ctx(1, false)) { rule = try Self.utf8(x.contentBytes) }
      if let x = try c.readIfPresent(tag: ctx(2, false)) { attribute = try Self.utf8(x.contentBytes) }
      let value = try c.readOctetString(tag: ctx(3, false), "extensible match value")
      var dn = false
      if !c.isAtEnd { dn = try c.readBoolean(tag: ctx(4, false), "dnAttributes") }
      filter = .extensible(matchingRule: rule, attribute: attribute, value: value, dnAttributes: dn)
    default:
      throw BERError("unknown filter choice 0x\(hex(tag))")
    }
    try c.expectEnd("filter")
    return filter
  }

  private static func utf8(_ bytes: [UInt8]) throws -> String {
    guard let s = String(validating: bytes, as: UTF8.self) else { throw BERError("filter text is not valid UTF-8") }
    return s
  }

  /// The RFC 4515 string form, with every value escaped; `parse` reads it back to an equal filter.
  public var description: String {
    switch self {
    case .and(let l): return "(&" + l.map(\.description).joined() + ")"
    case .or(let l): return "(|" + l.map(\.description).joined() + ")"
    case .not(let f): return "(!" + f.description + ")"
    case .equality(let a, let v): return "(\(a)=\(Self.escape(bytes: v)))"
    case .substrings(let a, let i, let any, let f):
      let middle = any.map { Self.escape(bytes: $0) + "*" }.joined()
      return "(\(a)=\(i.map { Self.escape(bytes: $0) } ?? "")*\(middle)\(f.map { Self.escape(bytes: $0) } ?? ""))"
    case .greaterOrEqual(let a, let v): return "(\(a)>=\(Self.escape(bytes: v)))"
    case .lessOrEqual(let a, let v): return "(\(a)<=\(Self.escape(bytes: v)))"
    case .present(let a): return "(\(a)=*)"
    case .approx(let a, let v): return "(\(a)~=\(Self.escape(bytes: v)))"
    case .extensible(let rule, let a, let v, let dn):
      return "(\(a ?? "")\(dn ? ":dn" : "")\(rule.map { ":" + $0 } ?? ""):=\(Self.escape(bytes: v)))"
    }
  }
}

extension LDAPFilter: CustomStringConvertible {}

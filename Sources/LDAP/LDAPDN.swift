/// Distinguished names (RFC 4514): escaping a value that goes into a DN, and a small parser used
/// to compare DNs (group mapping) and to read a group's first RDN value.
public enum LDAPDN {
  /// Escapes an attribute value for a DN string (RFC 4514 §2.4): `"` `+` `,` `;` `<` `=` `>` `\`
  /// get a backslash; a leading space or `#` and a trailing space are escaped; NUL and other
  /// control characters become `\XX`. A value escaped here is always exactly one RDN value.
  public static func escape(_ value: String) -> String {
    let bytes = Array(value.utf8)
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count + 4)
    for (i, b) in bytes.enumerated() {
      switch b {
      case UInt8(ascii: "\""), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ";"), UInt8(ascii: "<"),
        UInt8(ascii: "="), UInt8(ascii: ">"), UInt8(ascii: "\\"):
        out.append(UInt8(ascii: "\\"))
        out.append(b)
      case UInt8(ascii: " ") where i == 0 || i == bytes.count - 1:
        out.append(UInt8(ascii: "\\"))
        out.append(b)
      case UInt8(ascii: "#") where i == 0:
        out.append(UInt8(ascii: "\\"))
        out.append(b)
      case 0x00..<0x20, 0x7F:
        out.append(UInt8(ascii: "\\"))
        out.append(contentsOf: hex(b).utf8)
      default:
        out.append(b)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Builds a DN from a template such as `uid={username},ou=people,dc=example,dc=org`, escaping
  /// each substituted value per RFC 4514.
  public static func build(template: String, values: [String: String]) throws(LDAPError) -> String {
    try substitute(template: template, values: values, escape: escape)
  }

  /// One attribute-type-and-value of an RDN, with escapes decoded.
  public struct Attribute: Equatable, Sendable {
    public var type: String
    public var value: String
  }

  /// Splits a DN into RDNs (each a list of attribute-type-and-values, for multi-valued RDNs) and
  /// decodes escapes. Hex-string values (`#04...`) are kept as written.
  public static func parse(_ dn: String) throws(LDAPError) -> [[Attribute]] {
    let bytes = Array(dn.utf8)
    guard !bytes.isEmpty else { return [] }
    var rdns: [[Attribute]] = [[]]
    var type: [UInt8] = [], value: [UInt8] = []
    var inValue = false
    var trailingSpaces = 0  // unescaped spaces at the end of the value, which do not belong to it
    var i = 0
    func fail(_ why: String) -> LDAPError { .protocolError("malformed DN \(dn.debugDescription): \(why)") }
    func finishAttribute() throws(LDAPError) {
      let t = String(decoding: type, as: UTF8.self).trimmingSpaces()
      guard inValue, !t.isEmpty else { throw fail("an RDN needs type=value") }
      guard t.utf8.allSatisfy({ $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") || $0.isASCIIAlphanumeric }) else {
        throw fail("\(t.debugDescription) is not an attribute type")
      }
      let v = String(decoding: value.dropLast(trailingSpaces), as: UTF8.self)
      rdns[rdns.count - 1].append(Attribute(type: t, value: v))
      type = []
      value = []
      inValue = false
      trailingSpaces = 0
    }
    while i < bytes.count {
      let b = bytes[i]
      if !inValue {
        if b == UInt8(ascii: "=") { inValue = true } else { type.append(b) }
        i += 1
        continue
      }
      switch b {
      case UInt8(ascii: "\\"):
        guard i + 1 < bytes.count else { throw fail("a trailing backslash") }
        let n = bytes[i + 1]
        if let hi = hexDigit(n), i + 2 < bytes.count, let lo = hexDigit(bytes[i + 2]) {
          value.append(hi << 4 | lo)
          i += 3
        } else {
          value.append(n)
          i += 2
        }
        trailingSpaces = 0
      case UInt8(ascii: ","), UInt8(ascii: "+"):
        try finishAttribute()
        if b == UInt8(ascii: ",") { rdns.append([]) }
        i += 1
      case UInt8(ascii: " ") where value.isEmpty:
        i += 1  // spaces after '=' are not part of the value
      case UInt8(ascii: " "):
        value.append(b)
        trailingSpaces += 1
        i += 1
      default:
        value.append(b)
        trailingSpaces = 0
        i += 1
      }
    }
    try finishAttribute()
    return rdns
  }

  /// A form of `dn` in which equivalent spellings compare equal: types and values lowercased,
  /// escapes decoded, spaces around separators dropped. (Case-insensitive matching is right for
  /// the `cn`, `ou`, `dc` and `uid` values that name groups.)
  public static func normalize(_ dn: String) throws(LDAPError) -> String {
    try parse(dn).map { rdn in
      rdn.map { "\($0.type.lowercased())=\(escape($0.value.lowercased()))" }.sorted().joined(separator: "+")
    }.joined(separator: ",")
  }

  private static func hexDigit(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}

extension UInt8 {
  fileprivate var isASCIIAlphanumeric: Bool {
    (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(self) || (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(self)
      || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(self)
  }
}

extension String {
  fileprivate func trimmingSpaces() -> String {
    var s = Substring(self)
    while s.first == " " { s = s.dropFirst() }
    while s.last == " " { s = s.dropLast() }
    return String(s)
  }
}

/// RFC 4515: the string form of filters. Configuration holds templates such as
/// `(&(objectClass=groupOfNames)(member={dn}))`; user input is only ever substituted escaped, and
/// the result is parsed into an `LDAPFilter` whose values are bytes, so input cannot add clauses.
extension LDAPFilter {
  /// Escapes a value for the string form of a filter (RFC 4515 §3): `*` `(` `)` `\` and NUL become
  /// `\2a` `\28` `\29` `\5c` `\00`. Other control characters are escaped too, so that a filter is
  /// safe to log; non-ASCII UTF-8 passes unchanged, which RFC 4515 allows.
  public static func escape(_ value: String) -> String {
    escape(bytes: Array(value.utf8))
  }

  /// Bytes that are not valid UTF-8 are all escaped, so the result is text that parses back to `bytes`.
  public static func escape(bytes: [UInt8]) -> String {
    let escapeHigh = String(validating: bytes, as: UTF8.self) == nil
    var out: [UInt8] = []
    out.reserveCapacity(bytes.count)
    for b in bytes {
      switch b {
      case UInt8(ascii: "*"), UInt8(ascii: "("), UInt8(ascii: ")"), UInt8(ascii: "\\"), 0x00..<0x20, 0x7F,
        0x80... where escapeHigh:
        out.append(UInt8(ascii: "\\"))
        out.append(contentsOf: hex(b).utf8)
      default:
        out.append(b)
      }
    }
    return String(decoding: out, as: UTF8.self)
  }

  /// Replaces each `{name}` in `template` with the RFC 4515-escaped value of `values[name]`, then
  /// parses the result. A placeholder with no value, or a malformed template, is an error.
  public static func build(template: String, values: [String: String]) throws(LDAPError) -> LDAPFilter {
    let text = try substitute(template: template, values: values, escape: escape)
    return try parse(text)
  }

  /// Parses the RFC 4515 string form of a filter.
  public static func parse(_ text: String) throws(LDAPError) -> LDAPFilter {
    var p = FilterParser(bytes: Array(text.utf8))
    do {
      let f = try p.parseFilter(depth: 0)
      guard p.index == p.bytes.count else { throw BERError("unexpected text after the filter at offset \(p.index)") }
      return f
    } catch let e as BERError {
      throw .invalidConfiguration("invalid LDAP filter \(text.debugDescription): \(e.description)")
    } catch {
      throw .invalidConfiguration("invalid LDAP filter \(text.debugDescription): \(error)")
    }
  }
}

/// Replaces `{name}` placeholders in a configured template with escaped values.
func substitute(
  template: String, values: [String: String], escape: (String) -> String
) throws(LDAPError) -> String {
  var out = ""
  var rest = Substring(template)
  while let open = rest.firstIndex(of: "{") {
    out += rest[..<open]
    guard let close = rest[open...].firstIndex(of: "}") else {
      throw .invalidConfiguration("unclosed placeholder in \(template.debugDescription)")
    }
    let name = String(rest[rest.index(after: open)..<close])
    guard let value = values[name] else {
      let known = values.keys.sorted().map { "{\($0)}" }.joined(separator: ", ")
      throw .invalidConfiguration("unknown placeholder {\(name)} in \(template.debugDescription); known: \(known)")
    }
    out += escape(value)
    rest = rest[rest.index(after: close)...]
  }
  return out + rest
}

private struct FilterParser {
  let bytes: [UInt8]
  var index = 0

  init(bytes: [UInt8]) { self.bytes = bytes }

  private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

  private mutating func expect(_ c: Character) throws {
    guard peek() == c.asciiValue else {
      let found = peek().map { "'\(Character(Unicode.Scalar($0)))'" } ?? "the end"
      throw BERError("expected '\(c)' at offset \(index), found \(found)")
    }
    index += 1
  }

  mutating func parseFilter(depth: Int) throws -> LDAPFilter {
    guard depth < LDAPFilter.maxDepth else { throw BERError("filter nested deeper than \(LDAPFilter.maxDepth)") }
    try expect("(")
    let f: LDAPFilter
    switch peek() {
    case UInt8(ascii: "&"):
      index += 1
      f = .and(try parseList(depth: depth))
    case UInt8(ascii: "|"):
      index += 1
      f = .or(try parseList(depth: depth))
    case UInt8(ascii: "!"):
      index += 1
      f = .not(try parseFilter(depth: depth + 1))
    default:
      f = try parseItem()
    }
    try expect(")")
    return f
  }

  private mutating func parseList(depth: Int) throws -> [LDAPFilter] {
    var list: [LDAPFilter] = []
    while peek() == UInt8(ascii: "(") { list.append(try parseFilter(depth: depth + 1)) }
    // RFC 4526's absolute (&) and (|) are refused: an empty set in configuration is a typo that
    // would match everything or nothing.
    guard !list.isEmpty else { throw BERError("empty filter list at offset \(index)") }
    return list
  }

  /// attr, with options: ALPHA / DIGIT / '-' / '.' / ';'.
  private mutating func parseAttribute() -> String {
    let start = index
    while let c = peek(), c.isAttributeCharacter { index += 1 }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private mutating func parseItem() throws -> LDAPFilter {
    let attr = parseAttribute()
    guard let c = peek() else { throw BERError("unexpected end of the filter") }
    switch c {
    case UInt8(ascii: "~"), UInt8(ascii: ">"), UInt8(ascii: "<"):
      index += 1
      try expect("=")
      try requireAttribute(attr)
      let parts = try parseValueParts()
      guard parts.count == 1 else { throw BERError("'*' must be escaped as \\2a in a \(Character(Unicode.Scalar(c)))= value") }
      switch c {
      case UInt8(ascii: "~"): return .approx(attr, parts[0])
      case UInt8(ascii: ">"): return .greaterOrEqual(attr, parts[0])
      default: return .lessOrEqual(attr, parts[0])
      }
    case UInt8(ascii: ":"):
      return try parseExtensible(attr: attr)
    case UInt8(ascii: "="):
      index += 1
      try requireAttribute(attr)
      let parts = try parseValueParts()
      if parts.count == 1 { return .equality(attr, parts[0]) }
      if parts.count == 2 && parts[0].isEmpty && parts[1].isEmpty { return .present(attr) }
      let middle = parts.dropFirst().dropLast()
      guard !middle.contains(where: \.isEmpty) else { throw BERError("'**' in a substring value") }
      return .substrings(
        attr, initial: parts.first!.isEmpty ? nil : parts.first!, any: Array(middle),
        final: parts.last!.isEmpty ? nil : parts.last!)
    default:
      throw BERError("unexpected character '\(Character(Unicode.Scalar(c)))' at offset \(index)")
    }
  }

  private func requireAttribute(_ attr: String) throws {
    guard let first = attr.utf8.first, first != UInt8(ascii: ";"), first != UInt8(ascii: "-") else {
      throw BERError("missing or malformed attribute name before offset \(index)")
    }
  }

  /// `[attr] [":dn"] [":" rule] ":=" value`.
  private mutating func parseExtensible(attr: String) throws -> LDAPFilter {
    var dn = false
    var rule: String?
    if index + 2 < bytes.count, bytes[index + 1] == UInt8(ascii: "d"), bytes[index + 2] == UInt8(ascii: "n"),
      index + 3 < bytes.count, bytes[index + 3] == UInt8(ascii: ":")
    {
      dn = true
      index += 3
    }
    try expect(":")
    if peek() != UInt8(ascii: "=") {
      let r = parseAttribute()
      guard !r.isEmpty else { throw BERError("missing matching rule at offset \(index)") }
      rule = r
      try expect(":")
    }
    try expect("=")
    guard !attr.isEmpty || rule != nil else { throw BERError("an extensible match needs an attribute or a rule") }
    let parts = try parseValueParts()
    guard parts.count == 1 else { throw BERError("'*' must be escaped as \\2a in an extensible match value") }
    return .extensible(matchingRule: rule, attribute: attr.isEmpty ? nil : attr, value: parts[0], dnAttributes: dn)
  }

  /// The value up to the closing ')', split at each unescaped '*', with `\XX` escapes decoded.
  private mutating func parseValueParts() throws -> [[UInt8]] {
    var parts: [[UInt8]] = [[]]
    while let c = peek(), c != UInt8(ascii: ")") {
      switch c {
      case UInt8(ascii: "*"):
        parts.append([])
        index += 1
      case UInt8(ascii: "\\"):
        guard index + 2 < bytes.count, let hi = hexValue(bytes[index + 1]), let lo = hexValue(bytes[index + 2]) else {
          throw BERError("'\\' must be followed by two hex digits at offset \(index)")
        }
        parts[parts.count - 1].append(hi << 4 | lo)
        index += 3
      case UInt8(ascii: "("), 0x00:
        throw BERError("unescaped '\(c == 0 ? "NUL" : "(")' in a value at offset \(index)")
      default:
        parts[parts.count - 1].append(c)
        index += 1
      }
    }
    return parts
  }

  private func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): c - UInt8(ascii: "A") + 10
    default: nil
    }
  }
}

extension UInt8 {
  fileprivate var isAttributeCharacter: Bool {
    switch self {
    case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
      UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: ";"):
      true
    default: false
    }
  }
}

/// Template source → tokens, with Jinja2's whitespace rules as transformers configures them for
/// chat templates (and llama-server copies): `trim_blocks` (drop the newline after `%}`/`#}`),
/// `lstrip_blocks` (drop indentation before `{%`/`{#` on its own line), `-` markers, newlines
/// normalized and one trailing newline dropped.
enum JinjaToken: Equatable {
  case text(String)
  case varBegin, varEnd, blockBegin, blockEnd
  case name(String)
  case string(String)
  case int(Int)
  case float(Double)
  case op(String)
  case eof
}

struct JinjaLexer {
  private let s: [Unicode.Scalar]
  private var pos = 0
  private var line = 1
  private(set) var tokens: [(token: JinjaToken, line: Int)] = []

  init(_ source: String) {
    var text = source.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
    if text.hasSuffix("\n") { text.removeLast() }
    s = Array(text.unicodeScalars)
  }

  static func tokenize(_ source: String) throws(JinjaError) -> [(token: JinjaToken, line: Int)] {
    var lx = JinjaLexer(source)
    try lx.run()
    return lx.tokens
  }

  private func at(_ i: Int) -> Unicode.Scalar? { i < s.count ? s[i] : nil }
  private func starts(_ lit: String, _ i: Int) -> Bool {
    var k = i
    for c in lit.unicodeScalars {
      guard k < s.count, s[k] == c else { return false }
      k += 1
    }
    return true
  }
  private static func isSpace(_ c: Unicode.Scalar) -> Bool {
    c == " " || c == "\t" || c == "\n" || c == "\r" || c == "\u{0B}" || c == "\u{0C}" || c.properties.isWhitespace
  }

  private mutating func emit(_ t: JinjaToken) { tokens.append((t, line)) }

  private mutating func run() throws(JinjaError) {
    // Whether the text before the next tag starts a line (Jinja2's `line_starting`).
    var lineStarting = true
    while pos < s.count {
      // Find the next tag opener.
      var j = pos
      var opener: Unicode.Scalar? = nil
      while j + 1 < s.count {
        if s[j] == "{", s[j + 1] == "{" || s[j + 1] == "%" || s[j + 1] == "#" { opener = s[j + 1]; break }
        j += 1
      }
      if opener == nil { j = s.count }
      var data = String(String.UnicodeScalarView(s[pos..<j]))
      if let opener {
        let sign = at(j + 2)
        if sign == "-" {
          while let last = data.unicodeScalars.last, Self.isSpace(last) { data.unicodeScalars.removeLast() }
        } else if sign != "+" && opener != "{" {
          let scalars = Array(data.unicodeScalars)
          let lpos = (scalars.lastIndex(of: "\n") ?? -1) + 1
          if lpos > 0 || lineStarting {
            let tail = scalars[lpos...]
            if !tail.isEmpty && tail.allSatisfy(Self.isSpace) {
              data = String(String.UnicodeScalarView(scalars[..<lpos]))
            }
          }
        }
      }
      if !data.isEmpty { emit(.text(data)) }
      line += s[pos..<j].filter { $0 == "\n" }.count
      pos = j
      guard let opener else { break }
      pos += 2
      if at(pos) == "-" || at(pos) == "+" { pos += 1 }
      switch opener {
      case "#":
        lineStarting = try comment()
      case "{":
        emit(.varBegin)
        lineStarting = try expression(closer: "}")
      default:
        if let raw = try rawBlock() {
          if !raw.isEmpty { emit(.text(raw)) }
          lineStarting = pos > 0 && s[pos - 1] == "\n"
        } else {
          emit(.blockBegin)
          lineStarting = try expression(closer: "%")
        }
      }
    }
    emit(.eof)
  }

  /// Skips a comment; returns whether what it consumed ended with a newline.
  private mutating func comment() throws(JinjaError) -> Bool {
    while pos + 1 < s.count {
      if s[pos] == "-", s[pos + 1] == "#", at(pos + 2) == "}" {
        pos += 3
        return skipWhitespace()
      }
      if s[pos] == "#", s[pos + 1] == "}" {
        pos += 2
        return trimNewline()
      }
      if s[pos] == "\n" { line += 1 }
      pos += 1
    }
    throw JinjaError.syntax("unterminated comment", line: line)
  }

  private mutating func skipWhitespace() -> Bool {
    var sawNewlineLast = false
    while pos < s.count, Self.isSpace(s[pos]) {
      sawNewlineLast = s[pos] == "\n"
      if s[pos] == "\n" { line += 1 }
      pos += 1
    }
    return sawNewlineLast
  }

  /// trim_blocks: one newline right after a block or comment end goes.
  private mutating func trimNewline() -> Bool {
    if at(pos) == "\n" {
      pos += 1
      line += 1
      return true
    }
    return false
  }

  /// `{% raw %}...{% endraw %}`: the body verbatim (pos is just past `{%`).
  private mutating func rawBlock() throws(JinjaError) -> String? {
    var k = pos
    while k < s.count, s[k] == " " || s[k] == "\t" { k += 1 }
    guard starts("raw", k) else { return nil }
    k += 3
    while k < s.count, s[k] == " " || s[k] == "\t" { k += 1 }
    var stripAfter = false
    if at(k) == "-" { stripAfter = true; k += 1 }
    guard starts("%}", k) else { return nil }
    k += 2
    if stripAfter { while k < s.count, Self.isSpace(s[k]) { k += 1 } } else if at(k) == "\n" { k += 1 }
    var e = k
    while e + 1 < s.count {
      if s[e] == "{", s[e + 1] == "%" {
        var m = e + 2
        let stripBefore = at(m) == "-"
        if stripBefore || at(m) == "+" { m += 1 }
        while m < s.count, s[m] == " " || s[m] == "\t" { m += 1 }
        if starts("endraw", m) {
          m += 6
          while m < s.count, s[m] == " " || s[m] == "\t" { m += 1 }
          let stripEnd = at(m) == "-"
          if stripEnd { m += 1 }
          if starts("%}", m) {
            var body = String(String.UnicodeScalarView(s[k..<e]))
            if stripBefore { while let l = body.unicodeScalars.last, Self.isSpace(l) { body.unicodeScalars.removeLast() } }
            line += s[pos..<(m + 2)].filter { $0 == "\n" }.count
            pos = m + 2
            if stripEnd { _ = skipWhitespace() } else { _ = trimNewline() }
            return body
          }
        }
      }
      e += 1
    }
    throw JinjaError.syntax("unterminated raw block", line: line)
  }

  /// Tokens up to the closing `}}` (closer "}") or `%}` (closer "%"), which only count when
  /// brackets are balanced. Returns whether the consumed text ended with a newline.
  private mutating func expression(closer: Unicode.Scalar) throws(JinjaError) -> Bool {
    var depth = 0
    while true {
      while pos < s.count, Self.isSpace(s[pos]) {
        if s[pos] == "\n" { line += 1 }
        pos += 1
      }
      guard pos < s.count else { throw JinjaError.syntax("unterminated tag", line: line) }
      let c = s[pos]
      if depth == 0 {
        if c == "-", at(pos + 1) == closer, at(pos + 2) == "}" {
          pos += 3
          emit(closer == "}" ? .varEnd : .blockEnd)
          return skipWhitespace()
        }
        if c == closer, at(pos + 1) == "}" {
          pos += 2
          emit(closer == "}" ? .varEnd : .blockEnd)
          return closer == "%" ? trimNewline() : false
        }
      }
      if c == "_" || c.properties.isAlphabetic && c.isASCII {
        var e = pos
        while e < s.count, s[e] == "_" || (s[e].isASCII && (s[e].properties.isAlphabetic || ("0"..."9").contains(s[e]))) { e += 1 }
        emit(.name(String(String.UnicodeScalarView(s[pos..<e]))))
        pos = e
      } else if ("0"..."9").contains(c) {
        try number()
      } else if c == "'" || c == "\"" {
        try string(quote: c)
      } else {
        let two = pos + 1 < s.count ? String(String.UnicodeScalarView(s[pos...(pos + 1)])) : ""
        if ["//", "**", "==", "!=", "<=", ">="].contains(two) {
          emit(.op(two))
          pos += 2
        } else if "+-*/%~<>=()[]{},.:|".unicodeScalars.contains(c) {
          if c == "(" || c == "[" || c == "{" { depth += 1 }
          if c == ")" || c == "]" || c == "}" { depth = max(0, depth - 1) }
          emit(.op(String(c)))
          pos += 1
        } else {
          throw JinjaError.syntax("unexpected character '\(c)'", line: line)
        }
      }
    }
  }

  private mutating func number() throws(JinjaError) {
    var e = pos
    func digits() { while e < s.count, ("0"..."9").contains(s[e]) || (s[e] == "_" && e + 1 < s.count && ("0"..."9").contains(s[e + 1])) { e += 1 } }
    digits()
    var isFloat = false
    if at(e) == ".", let d = at(e + 1), ("0"..."9").contains(d) {
      isFloat = true
      e += 1
      digits()
    }
    if at(e) == "e" || at(e) == "E" {
      var k = e + 1
      if at(k) == "+" || at(k) == "-" { k += 1 }
      if let d = at(k), ("0"..."9").contains(d) {
        isFloat = true
        e = k
        digits()
      }
    }
    let text = String(String.UnicodeScalarView(s[pos..<e])).replacingOccurrences(of: "_", with: "")
    pos = e
    if isFloat {
      guard let d = Double(text) else { throw JinjaError.syntax("bad number \(text)", line: line) }
      emit(.float(d))
    } else {
      guard let i = Int(text) else { throw JinjaError.syntax("integer too large: \(text)", line: line) }
      emit(.int(i))
    }
  }

  /// A quoted string with Python's escapes (Jinja2 decodes literals with `unicode-escape`).
  private mutating func string(quote: Unicode.Scalar) throws(JinjaError) {
    var out = String.UnicodeScalarView()
    pos += 1
    while true {
      guard pos < s.count else { throw JinjaError.syntax("unterminated string", line: line) }
      let c = s[pos]
      pos += 1
      if c == quote { break }
      if c == "\n" { line += 1 }
      guard c == "\\", pos < s.count else { out.append(c); continue }
      let e = s[pos]
      pos += 1
      switch e {
      case "n": out.append("\n")
      case "t": out.append("\t")
      case "r": out.append("\r")
      case "\\": out.append("\\")
      case "'": out.append("'")
      case "\"": out.append("\"")
      case "b": out.append("\u{08}")
      case "f": out.append("\u{0C}")
      case "v": out.append("\u{0B}")
      case "a": out.append("\u{07}")
      case "\n": line += 1
      case "x", "u", "U":
        let n = e == "x" ? 2 : e == "u" ? 4 : 8
        var v: UInt32 = 0
        for _ in 0..<n {
          guard pos < s.count, s[pos].isASCII, let h = hexValue(UInt8(s[pos].value)) else {
            throw JinjaError.syntax("bad \\\(e) escape", line: line)
          }
          v = v << 4 | UInt32(h)
          pos += 1
        }
        guard let sc = Unicode.Scalar(v) else { throw JinjaError.syntax("bad code point in escape", line: line) }
        out.append(sc)
      case "0"..."7":
        var v = e.value - 0x30
        var n = 1
        while n < 3, pos < s.count, ("0"..."7").contains(s[pos]) {
          v = v * 8 + s[pos].value - 0x30
          pos += 1
          n += 1
        }
        out.append(Unicode.Scalar(v) ?? "\u{FFFD}")
      default:
        // Python keeps unknown escapes as written.
        out.append("\\")
        out.append(e)
      }
    }
    emit(.string(String(out)))
  }
}

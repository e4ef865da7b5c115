/// Splits text into the pieces BPE merges within, exactly as llama.cpp's `unicode_regex_split`
/// does for each supported `tokenizer.ggml.pre`.
///
/// llama.cpp runs a list of regexes; each splits every current piece into its matches and the
/// text between them. Its common patterns have hand-written scanners (gpt2, llama3, qwen2) and
/// the rest go through std::regex over a "collapsed" text where each non-ASCII code point stands
/// for its category. Each step here is a scanner reproducing one of those, quirks included.
struct PreTokenizer: Sendable {
  enum Step: Sendable {
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)`
    case gpt2
    /// `(?i:'s|...)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3
    /// As llama3 with `\p{N}` (one digit per piece).
    case qwen2
    /// `\p{N}`: every number character alone.
    case digit
    /// `\p{N}+`
    case digitRun
    /// `[\p{P}\$\+<=>\^~\|]+`
    case punctuationRun
    /// `[0-9][0-9][0-9]`
    case threeDigits
  }

  let steps: [Step]

  /// Pieces of `cps` as ranges, in order, covering it.
  func split(_ cps: UnsafeBufferPointer<UInt32>) -> [Range<Int>] {
    var pieces = cps.isEmpty ? [] : [0..<cps.count]
    let flags = cps.map(CodepointFlags.of)
    for step in steps {
      var out: [Range<Int>] = []
      out.reserveCapacity(pieces.count * 2)
      for r in pieces {
        switch step {
        case .gpt2: Self.gpt2(cps, flags, r, &out)
        case .llama3: Self.llama3(cps, flags, r, digitGroup: 3, &out)
        case .qwen2: Self.llama3(cps, flags, r, digitGroup: 1, &out)
        case .digit: Self.runs(cps, flags, r, maxLength: 1, &out, Self.isCollapsedNumber)
        case .digitRun: Self.runs(cps, flags, r, maxLength: .max, &out, Self.isCollapsedNumber)
        case .punctuationRun: Self.runs(cps, flags, r, maxLength: .max, &out, Self.isCollapsedPunctuation)
        case .threeDigits: Self.threeDigits(cps, r, &out)
        }
      }
      pieces = out
    }
    return pieces
  }

  // MARK: - Hand-written llama.cpp scanners

  private static let outOfRange: UInt32 = 0xFFFF_FFFF

  private static func gpt2(_ cps: UnsafeBufferPointer<UInt32>, _ fl: [CodepointFlags], _ r: Range<Int>, _ out: inout [Range<Int>]) {
    let ini = r.lowerBound, end = r.upperBound
    @inline(__always) func cpt(_ p: Int) -> UInt32 { p >= ini && p < end ? cps[p] : outOfRange }
    @inline(__always) func flags(_ p: Int) -> CodepointFlags { p >= ini && p < end ? fl[p] : .none }
    var prevEnd = ini
    @inline(__always) func add(_ e: Int) -> Int {
      let n = e - prevEnd
      if n > 0 { out.append(prevEnd..<e) }
      prevEnd = e
      return n
    }
    let space = UInt32(0x20)
    var pos = ini
    while pos < end {
      let c = cpt(pos), f = flags(pos)
      if c == 0x27 && pos + 1 < end {  // '
        let n = cpt(pos + 1)
        if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 { pos += add(pos + 2); continue }  // s t m d
        if pos + 2 < end {
          let nn = cpt(pos + 2)
          if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {  // re ve ll
            pos += add(pos + 3)
            continue
          }
        }
      }
      var f2 = c == space ? flags(pos + 1) : f
      if f2.isLetter {
        if c == space { pos += 1 }
        while f2.isLetter { pos += 1; f2 = flags(pos) }
        _ = add(pos)
        continue
      }
      if f2.isNumber {
        if c == space { pos += 1 }
        while f2.isNumber { pos += 1; f2 = flags(pos) }
        _ = add(pos)
        continue
      }
      if !(f2.isWhitespace || f2.isLetter || f2.isNumber) && !f2.isNone {
        if c == space { pos += 1 }
        while !(f2.isWhitespace || f2.isLetter || f2.isNumber) && !f2.isNone { pos += 1; f2 = flags(pos) }
        _ = add(pos)
        continue
      }
      var nws = 0
      while flags(pos + nws).isWhitespace { nws += 1 }
      if nws > 1 && cpt(pos + nws) != outOfRange {
        pos += nws - 1
        _ = add(pos)
        continue
      }
      if nws > 0 {
        pos += nws
        _ = add(pos)
        continue
      }
      pos += 1
      _ = add(pos)
    }
  }

  private static func llama3(
    _ cps: UnsafeBufferPointer<UInt32>, _ fl: [CodepointFlags], _ r: Range<Int>, digitGroup: Int, _ out: inout [Range<Int>]
  ) {
    let ini = r.lowerBound, end = r.upperBound
    @inline(__always) func cpt(_ p: Int) -> UInt32 { p >= ini && p < end ? cps[p] : outOfRange }
    @inline(__always) func flags(_ p: Int) -> CodepointFlags { p >= ini && p < end ? fl[p] : .none }
    // Only ASCII letters fold onto the contraction letters, so an ASCII fold is llama.cpp's tolower here.
    @inline(__always) func lower(_ c: UInt32) -> UInt32 { c >= 0x41 && c <= 0x5A ? c + 0x20 : c }
    var prevEnd = ini
    @inline(__always) func add(_ e: Int) -> Int {
      let n = e - prevEnd
      if n > 0 { out.append(prevEnd..<e) }
      prevEnd = e
      return n
    }
    let space = UInt32(0x20), cr = UInt32(0x0D), lf = UInt32(0x0A)
    var pos = ini
    while pos < end {
      let c = cpt(pos), f = flags(pos)
      if c == 0x27 && pos + 1 < end {
        let n = lower(cpt(pos + 1))
        if n == 0x73 || n == 0x74 || n == 0x6D || n == 0x64 { pos += add(pos + 2); continue }
        if pos + 2 < end {
          let nn = lower(cpt(pos + 2))
          if (n == 0x72 && nn == 0x65) || (n == 0x76 && nn == 0x65) || (n == 0x6C && nn == 0x6C) {
            pos += add(pos + 3)
            continue
          }
        }
      }
      // [^\r\n\p{L}\p{N}]?\p{L}+
      if !(c == cr || c == lf || f.isNumber) && (f.isLetter || flags(pos + 1).isLetter) {
        pos += 1
        while flags(pos).isLetter { pos += 1 }
        _ = add(pos)
        continue
      }
      if f.isNumber {
        var start = pos
        while flags(pos).isNumber {
          pos += 1
          if pos - start >= digitGroup {
            _ = add(pos)
            start = pos
          }
        }
        _ = add(pos)
        continue
      }
      // <space>?[^\s\p{L}\p{N}]+[\r\n]*  (llama.cpp tests the first code point's own flags here)
      var f2 = c == space ? flags(pos + 1) : f
      if !(f2.isWhitespace || f2.isLetter || f2.isNumber) && !f.isNone {
        if c == space { pos += 1 }
        while !(f2.isWhitespace || f2.isLetter || f2.isNumber) && !f2.isNone { pos += 1; f2 = flags(pos) }
        var c2 = cpt(pos)
        while c2 == cr || c2 == lf { pos += 1; c2 = cpt(pos) }
        _ = add(pos)
        continue
      }
      var nws = 0, lastNewline = 0
      while flags(pos + nws).isWhitespace {
        let c2 = cpt(pos + nws)
        if c2 == cr || c2 == lf { lastNewline = pos + nws + 1 }
        nws += 1
      }
      if lastNewline > 0 {
        pos = lastNewline
        _ = add(pos)
        continue
      }
      if nws > 1 && cpt(pos + nws) != outOfRange {
        pos += nws - 1
        _ = add(pos)
        continue
      }
      if nws > 0 {
        pos += nws
        _ = add(pos)
        continue
      }
      pos += 1
      _ = add(pos)
    }
  }

  // MARK: - std::regex fallbacks over llama.cpp's collapsed text

  /// `\p{N}` after collapsing: ASCII digits, or a non-ASCII code point whose category is number.
  static func isCollapsedNumber(_ cp: UInt32, _ f: CodepointFlags) -> Bool {
    if cp < 0x80 { return cp >= 0x30 && cp <= 0x39 }
    return f.isNumber && !f.isWhitespace
  }

  /// `[\p{P}\$\+<=>\^~\|]` after collapsing: llama.cpp's ASCII punctuation list omits the backtick.
  static func isCollapsedPunctuation(_ cp: UInt32, _ f: CodepointFlags) -> Bool {
    if cp < 0x80 {
      switch cp {
      case 0x21...0x2F, 0x3A...0x40, 0x5B...0x5F, 0x7B...0x7E: return true
      default: return false
      }
    }
    return f.isPunctuation && !f.isWhitespace
  }

  /// Maximal runs (cut every `maxLength`) of matching code points, with the text between them
  /// kept as pieces of their own: what regex_iterator over a character-class pattern yields.
  private static func runs(
    _ cps: UnsafeBufferPointer<UInt32>, _ fl: [CodepointFlags], _ r: Range<Int>, maxLength: Int, _ out: inout [Range<Int>],
    _ matches: (UInt32, CodepointFlags) -> Bool
  ) {
    var gapStart = r.lowerBound
    var p = r.lowerBound
    while p < r.upperBound {
      guard matches(cps[p], fl[p]) else { p += 1; continue }
      if p > gapStart { out.append(gapStart..<p) }
      let start = p
      while p < r.upperBound && p - start < maxLength && matches(cps[p], fl[p]) { p += 1 }
      out.append(start..<p)
      gapStart = p
    }
    if gapStart < r.upperBound { out.append(gapStart..<r.upperBound) }
  }

  private static func threeDigits(_ cps: UnsafeBufferPointer<UInt32>, _ r: Range<Int>, _ out: inout [Range<Int>]) {
    @inline(__always) func digit(_ p: Int) -> Bool { cps[p] >= 0x30 && cps[p] <= 0x39 }
    var gapStart = r.lowerBound
    var p = r.lowerBound
    while p + 3 <= r.upperBound {
      if digit(p) && digit(p + 1) && digit(p + 2) {
        if p > gapStart { out.append(gapStart..<p) }
        out.append(p..<(p + 3))
        p += 3
        gapStart = p
      } else {
        p += 1
      }
    }
    if gapStart < r.upperBound { out.append(gapStart..<r.upperBound) }
  }
}

/// How llama.cpp configures BPE for one `tokenizer.ggml.pre` value.
struct BPEPreConfig: Sendable {
  let steps: [PreTokenizer.Step]
  /// A piece that is itself a token is emitted whole, merges notwithstanding (llama3 family).
  let ignoreMerges: Bool
  let addBos: Bool
  let cleanSpaces: Bool

  static func forPre(_ pre: String?) throws(TokenizerError) -> BPEPreConfig {
    let defaultSteps: [PreTokenizer.Step] = [.punctuationRun, .gpt2, .digitRun, .threeDigits]
    guard let pre else { return BPEPreConfig(steps: defaultSteps, ignoreMerges: false, addBos: false, cleanSpaces: true) }
    switch pre {
    case "default":
      return BPEPreConfig(steps: defaultSteps, ignoreMerges: false, addBos: false, cleanSpaces: true)
    case "llama3", "llama-v3", "llama-bpe", "falcon3", "falcon-h1", "pixtral", "midm-2.0", "lfm2", "jina-v5-nano":
      return BPEPreConfig(steps: [.llama3], ignoreMerges: true, addBos: true, cleanSpaces: true)
    case "dbrx", "smaug-bpe":
      return BPEPreConfig(steps: [.llama3], ignoreMerges: false, addBos: false, cleanSpaces: true)
    case "qwen2", "deepseek-r1-qwen", "kormo", "f2llmv2", "hunyuan", "solar-open":
      return BPEPreConfig(steps: [.qwen2], ignoreMerges: false, addBos: false, cleanSpaces: false)
    case "stablelm2", "megrez":
      return BPEPreConfig(steps: [.qwen2], ignoreMerges: false, addBos: false, cleanSpaces: true)
    case "smollm", "command-r":
      return BPEPreConfig(steps: [.digit, .gpt2], ignoreMerges: false, addBos: false, cleanSpaces: false)
    case "starcoder", "refact", "codeshell", "exaone", "minerva-7b", "mellum2":
      return BPEPreConfig(steps: [.digit, .gpt2], ignoreMerges: false, addBos: false, cleanSpaces: true)
    case "gpt-2", "phi-2", "jina-es", "jina-de", "gigachat", "jina-v2-es", "jina-v2-de", "a.x-4.0", "mellum",
      "modern-bert", "mpt", "olmo", "jais", "exaone4", "jina-v1-en", "jina-v2-code", "roberta-bpe":
      return BPEPreConfig(steps: [.gpt2], ignoreMerges: false, addBos: false, cleanSpaces: true)
    case "trillion", "granite-docling":
      return BPEPreConfig(steps: [.gpt2], ignoreMerges: false, addBos: false, cleanSpaces: false)
    default:
      throw .unsupportedPreTokenizer(pre)
    }
  }
}

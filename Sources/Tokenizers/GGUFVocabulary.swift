import GGUF

/// Per-token attributes, numbered as llama.cpp's `llama_token_attr`.
struct TokenAttr: OptionSet, Sendable {
  let rawValue: UInt8
  static let unknown = TokenAttr(rawValue: 1 << 0)
  static let unused = TokenAttr(rawValue: 1 << 1)
  static let normal = TokenAttr(rawValue: 1 << 2)
  static let control = TokenAttr(rawValue: 1 << 3)
  static let userDefined = TokenAttr(rawValue: 1 << 4)
  static let byte = TokenAttr(rawValue: 1 << 5)

  /// GGUF `tokenizer.ggml.token_type` values (llama.cpp's `llama_token_type`).
  init(ggufType t: Int) {
    switch t {
    case 1: self = .normal
    case 2: self = .unknown
    case 3: self = .control
    case 4: self = .userDefined
    case 5: self = .unused
    case 6: self = .byte
    default: self = []
    }
  }

  init(rawValue: UInt8) { self.rawValue = rawValue }
}

/// The vocabulary and special-token facts a GGUF file gives, resolved the way llama.cpp's
/// `llama_vocab::load` resolves them (defaults, overrides, EOG detection by token text).
struct GGUFVocabulary: Sendable {
  enum Kind: Sendable { case spm, bpe }

  let kind: Kind
  let table: TokenTable
  let scores: [Float]
  let attrs: [TokenAttr]
  let bos: Int?, eos: Int?, eot: Int?, eom: Int?, unk: Int?, sep: Int?, pad: Int?
  let eog: Set<Int>
  let addBos: Bool, addEos: Bool, addSpacePrefix: Bool
  let cleanSpaces: Bool
  let splitter: SpecialTokenSplitter

  var count: Int { table.count }

  /// `defaultAddBos`/`cleanSpaces` depend on the pre-tokenizer, which the caller resolves.
  init(file: GGUFFile, kind: Kind, defaultAddBos: Bool? = nil, cleanSpaces: Bool = false) throws(TokenizerError) {
    self.kind = kind
    let tokensKey = "tokenizer.ggml.tokens"
    guard let tv = file.metadata[tokensKey] else { throw .missingMetadata(key: tokensKey) }
    guard let texts = tv.array?.strings else { throw .wrongMetadataType(key: tokensKey, expected: "an array of strings") }
    guard !texts.isEmpty else { throw .emptyVocabulary }
    // Ids travel as Int32 inside the tokenizers.
    guard texts.count < Int(Int32.max) else { throw .lengthMismatch(key: tokensKey, expected: Int(Int32.max), found: texts.count) }
    let n = texts.count
    switch TokenTable.build(texts) {
    case .success(let t): table = t
    case .failure(let d): throw .duplicateToken(text: texts[d.second], firstId: d.first, secondId: d.second)
    }

    if let sv = file.metadata["tokenizer.ggml.scores"] {
      guard let s = sv.array?.floats else { throw .wrongMetadataType(key: "tokenizer.ggml.scores", expected: "a numeric array") }
      guard s.count == n else { throw .lengthMismatch(key: "tokenizer.ggml.scores", expected: n, found: s.count) }
      scores = s
    } else {
      scores = [Float](repeating: 0, count: n)
    }

    var attrs: [TokenAttr]
    if let tt = file.metadata["tokenizer.ggml.token_type"] {
      guard let types = tt.array?.ints else { throw .wrongMetadataType(key: "tokenizer.ggml.token_type", expected: "an integer array") }
      guard types.count == n else { throw .lengthMismatch(key: "tokenizer.ggml.token_type", expected: n, found: types.count) }
      attrs = types.map(TokenAttr.init(ggufType:))
    } else {
      attrs = [TokenAttr](repeating: .normal, count: n)
    }

    // Defaults first (dropped when outside this vocabulary), then what the file says.
    func inRange(_ id: Int?) -> Int? { id.flatMap { $0 >= 0 && $0 < n ? $0 : nil } }
    var bos = inRange(kind == .spm ? 1 : 11)
    var eos = inRange(kind == .spm ? 2 : 11)
    var unk = inRange(kind == .spm ? 0 : nil)
    func read(_ key: String, strict: Bool) throws(TokenizerError) -> Int? {
      guard let v = file.metadata["tokenizer.ggml.\(key)"] else { return nil }
      guard let id = v.int else { throw .wrongMetadataType(key: "tokenizer.ggml.\(key)", expected: "an integer") }
      guard id >= 0 && id < n else {
        // Optional roles (padding, FIM) out of range are ignored, as llama.cpp does.
        if strict { throw .tokenIdOutOfRange(key: "tokenizer.ggml.\(key)", id: id, vocabSize: n) }
        return nil
      }
      return id
    }
    bos = try read("bos_token_id", strict: true) ?? bos
    eos = try read("eos_token_id", strict: true) ?? eos
    unk = try read("unknown_token_id", strict: true) ?? unk
    var eot = try read("eot_token_id", strict: true)
    var eom = try read("eom_token_id", strict: true)
    sep = try read("seperator_token_id", strict: false)
    pad = try read("padding_token_id", strict: false)
    let oldPre = try read("prefix_token_id", strict: false), oldSuf = try read("suffix_token_id", strict: false)
    let oldMid = try read("middle_token_id", strict: false)
    var fimPre = try read("fim_pre_token_id", strict: false) ?? oldPre
    var fimSuf = try read("fim_suf_token_id", strict: false) ?? oldSuf
    var fimMid = try read("fim_mid_token_id", strict: false) ?? oldMid
    var fimPad = try read("fim_pad_token_id", strict: false)
    var fimRep = try read("fim_rep_token_id", strict: false)
    var fimSep = try read("fim_sep_token_id", strict: false)

    func flag(_ key: String, _ def: Bool) throws(TokenizerError) -> Bool {
      guard let v = file.metadata["tokenizer.ggml.\(key)"] else { return def }
      guard let b = v.bool else { throw .wrongMetadataType(key: "tokenizer.ggml.\(key)", expected: "a bool") }
      return b
    }
    addBos = try flag("add_bos_token", defaultAddBos ?? (kind == .spm))
    addEos = try flag("add_eos_token", false)
    addSpacePrefix = try flag("add_space_prefix", kind == .spm)
    self.cleanSpaces = cleanSpaces
    if addBos && bos == nil { throw .missingSpecialToken(key: "tokenizer.ggml.bos_token_id") }
    if addEos && eos == nil { throw .missingSpecialToken(key: "tokenizer.ggml.eos_token_id") }

    // Converters do not always type these tokens; llama.cpp finds them by text and makes them
    // control tokens so that they are split out of raw text and hidden when decoding.
    let table = self.table
    func find(_ candidates: [String], into id: inout Int?) {
      guard id == nil else { return }
      for c in candidates {
        if let t = table.lookup(c) { id = t; attrs[t].insert(.control); return }
      }
    }
    find(Self.eotTexts, into: &eot)
    find(["<|eom_id|>"], into: &eom)
    find(["<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>", "<|prefix|>"], into: &fimPre)
    find(["<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>", "<|suffix|>"], into: &fimSuf)
    find(["<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>", "<|middle|>"], into: &fimMid)
    find(["<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]"], into: &fimPad)
    find(["<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>"], into: &fimRep)
    find(["<|file_sep|>"], into: &fimSep)

    var eog = Set<Int>([fimPad, fimRep, fimSep].compactMap { $0 })
    for text in Self.eogTexts {
      if let t = table.lookup(text) { eog.insert(t); attrs[t].insert(.control) }
    }
    // gpt-oss: these structure its output and must always be rendered as text.
    for text in ["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>"] {
      if let t = table.lookup(text) { attrs[t] = .userDefined }
    }
    for id in [eos, eot, eom] { if let id { eog.insert(id) } }
    let eogText = Set(eog.map { table.text($0) })
    // o200k_harmony / solar-open: "<|end|>" ends a message, not the generation.
    if eogText.contains("<|end|>"), let end = table.lookup("<|end|>"),
      (eogText.contains("<|return|>") && eogText.contains("<|call|>"))
        || (eogText.contains("<|calls|>") && eogText.contains("<|flush|>"))
    {
      eog.remove(end)
      attrs[end] = .userDefined
    }
    if eogText.contains("</s>"), eogText.contains("<|tool_response>") || eogText.contains("<|plamo:eos|>"),
      let s = table.lookup("</s>")
    {
      eog.remove(s)
      attrs[s] = .normal
    }

    self.bos = bos
    self.eos = eos
    self.eot = eot
    self.eom = eom
    self.unk = unk
    self.eog = eog
    self.attrs = attrs
    splitter = SpecialTokenSplitter(table: table, attrs: attrs)
  }

  static let eotTexts = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>", "<|end_of_text|>",
    "<EOT>", "_<EOT>", "[EOT]", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
  ]
  static let eogTexts = [
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>", "<|calls|>",
    "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>", "_<EOT>", "[EOT]", "[EOS]",
    "<|end_of_text|>", "<end_of_utterance>", "<eos>", "<turn|>", "<|tool_response>",
    "<｜end▁of▁sentence｜>", "[e~[",
  ]

  func isValid(_ id: Int) -> Bool { id >= 0 && id < table.count }

  /// Control and unknown tokens: what `decode(skipSpecial: true)` hides.
  func isControl(_ id: Int) -> Bool {
    isValid(id) && !attrs[id].isDisjoint(with: [.control, .unknown])
  }

  /// Byte value of a `<0xXX>` token.
  func byteValue(_ id: Int) -> UInt8? {
    let b = table.bytes(id)
    guard b.count == 6 else { return nil }
    let s = b.startIndex
    guard b[s] == UInt8(ascii: "<"), b[s + 1] == UInt8(ascii: "0"), b[s + 2] == UInt8(ascii: "x"), b[s + 5] == UInt8(ascii: ">"),
      let hi = hexValue(b[s + 3]), let lo = hexValue(b[s + 4])
    else { return nil }
    return hi << 4 | lo
  }
}

@inline(__always)
func hexValue(_ c: UInt8) -> UInt8? {
  switch c {
  case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
  case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
  case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
  default: return nil
  }
}

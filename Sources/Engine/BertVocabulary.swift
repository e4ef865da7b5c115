import Foundation
import GGUF
import Tokenizers

/// The WordPiece tokenizer of a BERT GGUF. Files from `hearth convert` carry their tokenizer.json
/// verbatim (`tokenizer.huggingface.json`); files from llama.cpp's converter carry only the token
/// list in llama.cpp's spelling, so a tokenizer.json is rebuilt from it with llama.cpp's own
/// rules (lowercase, accents stripped, [CLS] ... [SEP]), which is how llama.cpp reads the file.
enum BertVocabulary {
  static func tokenizer(from f: GGUFFile, maxTokens: Int) throws(TokenizerError) -> WordPieceTokenizer {
    let json: Data
    if let text = f.string("tokenizer.huggingface.json") {
      json = Data(text.utf8)
    } else {
      json = try rebuild(f)
    }
    return try WordPieceTokenizer(tokenizerJSON: json, maxLength: maxTokens)
  }

  /// tokenizer.json from `tokenizer.ggml.*`: "▁word" is a word start, "piece" a `##piece`
  /// continuation, control tokens (type 3) stay as they are and are special.
  static func rebuild(_ f: GGUFFile) throws(TokenizerError) -> Data {
    guard f.string("tokenizer.ggml.model") == "bert" else {
      throw .unsupportedModel(f.string("tokenizer.ggml.model") ?? "none")
    }
    guard let tokens = f.array("tokenizer.ggml.tokens")?.strings else { throw .missingMetadata(key: "tokenizer.ggml.tokens") }
    let types = f.array("tokenizer.ggml.token_type")?.ints ?? []
    guard types.isEmpty || types.count == tokens.count else {
      throw .lengthMismatch(key: "tokenizer.ggml.token_type", expected: tokens.count, found: types.count)
    }
    var vocab: [String: Int] = [:]
    var added: [[String: Any]] = []
    for (id, t) in tokens.enumerated() {
      let control = !types.isEmpty && types[id] == 3
      let text = control ? t : t.hasPrefix("\u{2581}") ? String(t.dropFirst()) : "##" + t
      if let first = vocab[text] { throw .duplicateToken(text: text, firstId: first, secondId: id) }
      vocab[text] = id
      if control { added.append(["id": id, "content": t, "special": true]) }
    }
    func special(_ key: String, _ fallback: Int) throws(TokenizerError) -> [Any] {
      let id = f.int(key) ?? fallback
      guard id >= 0, id < tokens.count else { throw .tokenIdOutOfRange(key: key, id: id, vocabSize: tokens.count) }
      return [tokens[id], id]
    }
    let cls = try special("tokenizer.ggml.bos_token_id", 101), sep = try special("tokenizer.ggml.seperator_token_id", 102)
    let unk = try special("tokenizer.ggml.unknown_token_id", 100)
    let root: [String: Any] = [
      "model": ["type": "WordPiece", "vocab": vocab, "unk_token": unk[0], "continuing_subword_prefix": "##"],
      "normalizer": ["type": "BertNormalizer", "clean_text": true, "handle_chinese_chars": true, "strip_accents": true, "lowercase": true],
      "pre_tokenizer": ["type": "BertPreTokenizer"],
      "post_processor": ["type": "BertProcessing", "cls": cls, "sep": sep],
      "added_tokens": added,
    ]
    do { return try JSONSerialization.data(withJSONObject: root) } catch { throw .invalidTokenizerJSON("cannot rebuild: \(error)") }
  }
}

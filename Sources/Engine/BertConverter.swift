import Foundation
import GGUF
import Kernels
import Models
import Tokenizers

/// `hearth convert`: a sentence-transformers / Hugging Face BERT folder (config.json,
/// model.safetensors, tokenizer.json, pooling files) to one self-contained GGUF.
///
/// The file follows llama.cpp's converter (architecture `bert`, its tensor names and `bert.*`
/// keys, the WordPiece vocabulary in `tokenizer.ggml.*` with its phantom-space spelling), so
/// llama.cpp can read it too. Hearth's own tokenizer reads the verbatim tokenizer.json kept in
/// `tokenizer.huggingface.json`, which also carries the normalizer settings the token list lacks.
public enum BertConverter {
  public enum OutputType: String, CaseIterable, Sendable {
    case f32, f16, q8_0

    var ggml: GGMLType {
      switch self {
      case .f32: return .f32
      case .f16: return .f16
      case .q8_0: return .q8_0
      }
    }
  }

  public struct Summary: Sendable {
    public let config: BertConfig
    public let tensors: Int
    public let bytes: Int
  }

  /// tokenizer.json files are well under a megabyte; the cap keeps a hostile one out of memory.
  static let maxTokenizerBytes = 64 << 20

  /// Converts `folder` to `out`, writing through a temporary file so a failure leaves nothing.
  /// Matrices are stored as `type`; vectors (norms, biases) always stay F32.
  public static func convert(folder: String, to out: String, type: OutputType = .f32) throws(EmbedderError) -> Summary {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: folder, isDirectory: &isDir), isDir.boolValue else { throw .notFound(folder) }
    let config: BertConfig
    let file: SafeTensorsFile
    do { config = try BertConfig(folder: folder) } catch { throw .bert(path: folder, error) }
    do { file = try SafeTensorsFile(path: folder + "/model.safetensors") } catch { throw .bert(path: folder, .safetensors(error)) }
    // Binding the weights checks every name, shape and dtype before anything is written.
    do { _ = try Bert(folder: folder, threads: 1) } catch { throw .bert(path: folder, error) }
    let tokenizerPath = folder + "/tokenizer.json"
    let tokenizerText = try readTokenizer(tokenizerPath)

    var w = GGUFWriter()
    w.set("general.architecture", .string("bert"))
    w.set("general.name", .string(URL(fileURLWithPath: folder).standardized.lastPathComponent))
    w.set("general.file_type", .uint32(type == .f32 ? 0 : type == .f16 ? 1 : 7))
    for (k, v) in config.ggufMetadata { w.set(k, v) }
    do {
      for (k, v) in try vocabularyMetadata(tokenizerText, vocabSize: config.vocabSize, folder: folder) { w.set(k, v) }
    } catch {
      throw .tokenizer(path: tokenizerPath, error)
    }
    w.set("tokenizer.huggingface.json", .string(tokenizerText))

    do {
      for info in file.tensors {
        guard let name = try BertNames.gguf(hf: info.name) else { continue }
        try addTensor(&w, name: name, info: info, file: file, type: type)
      }
    } catch let e as BertError {
      throw .bert(path: folder, e)
    } catch {
      throw .write(path: out, reason: "\(error)")
    }
    do { try w.write(to: out) } catch { throw .write(path: out, reason: "\(error)") }
    let attrs = try? FileManager.default.attributesOfItem(atPath: out)
    return Summary(config: config, tensors: w.tensors.count, bytes: (attrs?[.size] as? NSNumber)?.intValue ?? 0)
  }

  /// One tensor, its bytes produced only when the writer reaches it (one tensor in memory at a time).
  private static func addTensor(_ w: inout GGUFWriter, name: String, info: SafeTensorInfo, file: SafeTensorsFile, type: OutputType) throws {
    let src = try file.requireFloat(info)
    let dims = Array(info.shape.reversed())
    // Matrices (and the embedding tables) take the output type where its blocks fit the rows.
    let target: GGMLType = dims.count == 2 && dims[0] % type.ggml.blockSize == 0 ? type.ggml : .f32
    let count = info.elementCount
    try w.addTensor(name: name, dims: dims, type: target) {
      let bytes = file.data(for: info)
      if src == target { return Array(bytes) }
      var floats = [Float](repeating: 0, count: count)
      // Copied first: safetensors data need not be aligned for its element type.
      let raw = Array(bytes)
      raw.withUnsafeBytes { r in floats.withUnsafeMutableBufferPointer { Dequant.row(src, r.baseAddress!, $0.baseAddress!, count: count) } }
      if target == .f32 { return floats.withUnsafeBytes { Array($0) } }
      let rowLength = dims[0], rows = count / rowLength
      var out: [UInt8] = []
      out.reserveCapacity(TypeTraits.of(target)!.rowBytes(rowLength) * rows)
      floats.withUnsafeBufferPointer { f in
        for r in 0..<rows { out += Quantize.row(target, f.baseAddress! + r * rowLength, count: rowLength) }
      }
      return out
    }
  }

  static func readTokenizer(_ path: String) throws(EmbedderError) -> String {
    guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path) }
    let data: Data
    do {
      if let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int, size > maxTokenizerBytes {
        throw EmbedderError.tokenizer(path: path, .invalidTokenizerJSON("file is over \(maxTokenizerBytes) bytes"))
      }
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch let e as EmbedderError {
      throw e
    } catch {
      throw .tokenizer(path: path, .invalidTokenizerJSON((error as NSError).localizedDescription))
    }
    // Building the tokenizer validates the file the GGUF will carry.
    do { _ = try WordPieceTokenizer(tokenizerJSON: data) } catch { throw .tokenizer(path: path, error) }
    guard let text = String(data: data, encoding: .utf8) else { throw .tokenizer(path: path, .invalidTokenizerJSON("not UTF-8")) }
    return text
  }

  /// llama.cpp's `tokenizer.ggml.*` for a WordPiece vocabulary: tokens by id, `##` continuations
  /// without their prefix and word starts with a leading U+2581, special tokens as they are.
  static func vocabularyMetadata(_ text: String, vocabSize: Int, folder: String) throws(TokenizerError) -> [(String, GGUFValue)] {
    guard let root = (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any],
      let model = root["model"] as? [String: Any], let vocab = model["vocab"] as? [String: Any]
    else { throw .invalidTokenizerJSON("no model.vocab") }
    var tokens = [String?](repeating: nil, count: vocabSize)
    var types = [Int32](repeating: 1, count: vocabSize)  // 1: normal
    func place(_ token: String, _ id: Int) throws(TokenizerError) {
      guard id >= 0, id < vocabSize else { throw .tokenIdOutOfRange(key: "model.vocab['\(token)']", id: id, vocabSize: vocabSize) }
      tokens[id] = token
    }
    for (token, v) in vocab {
      guard let id = tokenID(v) else { throw .invalidTokenizerJSON("bad id for '\(token)'") }
      try place(token, id)
    }
    var control = Set<Int>()
    for t in root["added_tokens"] as? [[String: Any]] ?? [] {
      guard let content = t["content"] as? String, let id = tokenID(t["id"]) else { throw .invalidTokenizerJSON("bad added token") }
      try place(content, id)
      types[id] = (t["special"] as? Bool ?? false) ? 3 : 4  // control / user-defined
      if types[id] == 3 { control.insert(id) }
    }
    var list: [String] = []
    list.reserveCapacity(vocabSize)
    for (id, t) in tokens.enumerated() {
      guard let t else {
        list.append("[PAD\(id)]")  // an embedding row no token names, as llama.cpp fills it
        types[id] = 5  // unused
        continue
      }
      list.append(control.contains(id) ? t : t.hasPrefix("##") ? String(t.dropFirst(2)) : "\u{2581}" + t)
    }
    let names = try specialTokenNames(folder + "/special_tokens_map.json")
    func id(_ key: String, _ fallback: String) -> Int? {
      let text = names[key] ?? fallback
      return tokenID(vocab[text]) ?? tokens.firstIndex(of: text)
    }
    var out: [(String, GGUFValue)] = [
      ("tokenizer.ggml.model", .string("bert")),
      ("tokenizer.ggml.pre", .string("default")),
      ("tokenizer.ggml.tokens", .array(.string(list))),
      ("tokenizer.ggml.token_type", .array(.int32(types))),
    ]
    let specials = [
      ("tokenizer.ggml.bos_token_id", "cls_token", "[CLS]"), ("tokenizer.ggml.seperator_token_id", "sep_token", "[SEP]"),
      ("tokenizer.ggml.unknown_token_id", "unk_token", "[UNK]"), ("tokenizer.ggml.padding_token_id", "pad_token", "[PAD]"),
      ("tokenizer.ggml.mask_token_id", "mask_token", "[MASK]"),
    ]
    for (key, name, fallback) in specials {
      if let i = id(name, fallback) { out.append((key, .uint32(UInt32(i)))) }
    }
    out.append(("tokenizer.ggml.add_bos_token", .bool(true)))
    out.append(("tokenizer.ggml.add_sep_token", .bool(true)))
    return out
  }

  private static func tokenID(_ v: Any?) -> Int? {
    guard let n = v as? NSNumber, let i = Int(exactly: n.doubleValue) else { return nil }
    return i
  }

  /// special_tokens_map.json's names ("cls_token": "[CLS]" or {"content": "[CLS]", ...}); empty
  /// when the folder has none, so the BERT defaults apply.
  static func specialTokenNames(_ path: String) throws(TokenizerError) -> [String: String] {
    guard FileManager.default.fileExists(atPath: path) else { return [:] }
    guard let data = FileManager.default.contents(atPath: path), data.count <= 1 << 20,
      let map = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any]
    else { throw .invalidTokenizerJSON("\(path) is not a JSON object under 1 MiB") }
    var out: [String: String] = [:]
    for (k, v) in map {
      if let s = v as? String { out[k] = s } else if let s = (v as? [String: Any])?["content"] as? String { out[k] = s }
    }
    return out
  }
}

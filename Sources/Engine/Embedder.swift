import Foundation
import GGUF
import Kernels
import Models
import Tokenizers

/// Why embeddings could not be produced: one line naming the problem, for the CLI and the server.
public enum EmbedderError: Error, CustomStringConvertible, Sendable {
  case notFound(String)
  case bert(path: String, BertError)
  case model(path: String, ModelError)
  case tokenizer(path: String, TokenizerError)
  case write(path: String, reason: String)
  case emptyInput
  case emptySequence(index: Int)
  case tooManyTokens(index: Int, count: Int, limit: Int)

  public var description: String {
    switch self {
    case .notFound(let p): return "no such file or folder: \(p)"
    case .bert(let p, let e): return "\(p): \(e.description)"
    case .model(let p, let e): return "\(p): \(e.description)"
    case .tokenizer(let p, let e): return "\(p): \(e.description)"
    case .write(let p, let r): return "cannot write \(p): \(r)"
    case .emptyInput: return "no input to embed"
    case .emptySequence(let i): return "input \(i) has no tokens"
    case .tooManyTokens(let i, let n, let l): return "input \(i) has \(n) tokens, more than the model's limit of \(l)"
    }
  }
}

/// Vectors for a batch of inputs, with the token counts the API reports as usage.
public struct EmbeddingResult: Sendable {
  public var vectors: [[Float]]
  public var tokenCounts: [Int]
  public var totalTokens: Int { tokenCounts.reduce(0, +) }
}

/// Text in, unit vectors out, from either a real embedding model (a BERT encoder, from its
/// safetensors folder or a converted GGUF) or any decoder language model, whose final-normed
/// hidden states are mean-pooled. Decoder vectors work for similarity but were never trained
/// for it, so `kind` says which one this is and the server reports it.
public final class Embedder: @unchecked Sendable {
  public enum Kind: String, Sendable {
    case encoder
    case decoderPooled = "decoder-pooled"
  }

  private enum Backend {
    case encoder(Bert)
    case decoder(any LanguageModel)
  }

  public let path: String
  public let kind: Kind
  public let tokenizer: any Tokenizer
  public let dimension: Int
  /// Texts are truncated to this many tokens; token inputs longer than this are refused.
  public let maxTokens: Int
  public let threads: Int
  private let backend: Backend
  /// Decoder path: one forward at a time over its own pool (the pool is not reentrant).
  private let lock = NSLock()
  private lazy var pool = ThreadPool(threads: threads)

  public var isDecoderPooled: Bool { kind == .decoderPooled }

  /// Decoder inputs are fed in batches of this many tokens, and of at most this many inputs.
  static let decoderChunk = 256
  static let decoderSequencesPerBatch = 64
  /// Decoder inputs are capped here: a call's KV cache holds its longest input plus one batch.
  static let decoderMaxTokens = 4096

  /// A folder is a Hugging Face BERT (safetensors); a `.gguf` is either a converted BERT or a
  /// decoder language model, by its `general.architecture`.
  public init(path: String, threads: Int = 2) throws(EmbedderError) {
    var isDir: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else { throw .notFound(path) }
    self.path = path
    self.threads = threads
    if isDir.boolValue {
      let bert: Bert
      do { bert = try Bert(folder: path, threads: threads) } catch { throw .bert(path: path, error) }
      let tokPath = path + "/tokenizer.json"
      tokenizer = try Self.wordPiece(text: try BertConverter.readTokenizer(tokPath), path: tokPath, maxTokens: bert.config.maxTokens)
      (kind, backend, dimension, maxTokens) = (.encoder, .encoder(bert), bert.dimension, bert.config.maxTokens)
      return
    }
    let file: GGUFFile
    do { file = try GGUFFile(path: path) } catch { throw .model(path: path, .gguf(error)) }
    if file.architecture == "bert" {
      let bert: Bert
      do { bert = try Bert(file: file, threads: threads) } catch { throw .bert(path: path, error) }
      do { tokenizer = try BertVocabulary.tokenizer(from: file, maxTokens: bert.config.maxTokens) } catch { throw .tokenizer(path: path, error) }
      (kind, backend, dimension, maxTokens) = (.encoder, .encoder(bert), bert.dimension, bert.config.maxTokens)
      return
    }
    let model: any LanguageModel
    do { model = try Architectures.load(file: file) } catch { throw .model(path: path, error) }
    do { tokenizer = try Tokenizers.load(from: file) } catch { throw .tokenizer(path: path, error) }
    (kind, backend, dimension) = (.decoderPooled, .decoder(model), model.config.dim)
    maxTokens = min(model.config.contextLength, Self.decoderMaxTokens)
  }

  /// Decoder-pooled embeddings from a model already loaded for generation (shares its weights).
  public init(decoder: LoadedModel, threads: Int = 2) {
    path = decoder.path
    self.threads = threads
    tokenizer = decoder.tokenizer
    (kind, backend, dimension) = (.decoderPooled, .decoder(decoder.model), decoder.config.dim)
    maxTokens = min(decoder.config.contextLength, Self.decoderMaxTokens)
  }

  private static func wordPiece(text: String, path: String, maxTokens: Int) throws(EmbedderError) -> WordPieceTokenizer {
    do { return try WordPieceTokenizer(tokenizerJSON: Data(text.utf8), maxLength: maxTokens) } catch { throw .tokenizer(path: path, error) }
  }

  /// Token ids of each text, truncated to `maxTokens`. BERT parses its special-token text as
  /// sentence-transformers does; a decoder's user text never becomes control tokens.
  public func tokenize(_ texts: [String]) -> [[Int]] {
    texts.map { text in
      switch backend {
      case .encoder: return tokenizer.encode(text, addSpecial: true, parseSpecial: true)
      case .decoder:
        let ids = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
        return ids.count > maxTokens ? Array(ids.prefix(maxTokens)) : ids
      }
    }
  }

  public func embed(_ texts: [String]) throws(EmbedderError) -> EmbeddingResult {
    try embed(tokens: tokenize(texts))
  }

  /// Token inputs are checked (count, length, ids) before any work starts.
  public func embed(tokens seqs: [[Int]]) throws(EmbedderError) -> EmbeddingResult {
    guard !seqs.isEmpty else { throw .emptyInput }
    for (i, s) in seqs.enumerated() {
      guard !s.isEmpty else { throw .emptySequence(index: i) }
      guard s.count <= maxTokens else { throw .tooManyTokens(index: i, count: s.count, limit: maxTokens) }
    }
    switch backend {
    case .encoder(let bert):
      do { return EmbeddingResult(vectors: try bert.embed(tokens: seqs), tokenCounts: seqs.map(\.count)) } catch {
        throw .bert(path: path, error)
      }
    case .decoder(let model):
      if let bad = seqs.joined().first(where: { $0 < 0 || $0 >= model.config.vocabSize }) {
        throw .model(path: path, .badToken(id: bad, vocab: model.config.vocabSize))
      }
      lock.lock()
      defer { lock.unlock() }
      do { return EmbeddingResult(vectors: try decoderPooled(model, seqs), tokenCounts: seqs.map(\.count)) } catch {
        throw .model(path: path, error)
      }
    }
  }

  /// Mean of the final-normed hidden states over every token of each sequence, L2-normalised.
  /// Sequences are packed into shared forward batches (each causal within itself, in its own
  /// cache sequence), so short texts cost one pass between them, not one each. Logits are
  /// skipped: no row asks for them.
  private func decoderPooled(_ model: any LanguageModel, _ seqs: [[Int]]) throws(ModelError) -> [[Float]] {
    let chunk = Self.decoderChunk, dim = model.config.dim, blockTokens = 8
    let state = model.makeState(maxBatch: chunk, maxOutputs: 1, mode: .fast, pool: pool, keepHidden: true)
    // Live at once: one sequence carried over from the last batch (under `longest` tokens) and
    // the batch's own, each wasting less than a block.
    let longest = seqs.map(\.count).max() ?? 1
    let cache = model.makeCache(maxTokens: longest + chunk + blockTokens * (Self.decoderSequencesPerBatch + 1), blockTokens: blockTokens)
    var sums = [[Double]](repeating: [Double](repeating: 0, count: dim), count: seqs.count)
    var cacheSeq = [Int](repeating: -1, count: seqs.count)
    var batch = Batch(capacity: chunk)
    var owner: [Int] = []  // input index of each batch row
    owner.reserveCapacity(chunk)
    var next = 0, pos = 0  // the next input to feed, and its next position
    while next < seqs.count {
      batch.clear()
      owner.removeAll(keepingCapacity: true)
      var started = 0
      while batch.count < chunk, next < seqs.count {
        if pos == 0 {
          if started == Self.decoderSequencesPerBatch { break }
          cacheSeq[next] = cache.createSequence()
          started += 1
        }
        let take = min(chunk - batch.count, seqs[next].count - pos)
        for p in pos..<(pos + take) {
          batch.add(token: seqs[next][p], position: p, sequence: cacheSeq[next], logits: false)
          owner.append(next)
        }
        pos += take
        if pos == seqs[next].count { (next, pos) = (next + 1, 0) }
      }
      _ = try model.forward(batch, cache: cache, state: state)
      for (row, i) in owner.enumerated() {
        let h = state.hiddenRow(row)!
        sums[i].withUnsafeMutableBufferPointer { s in for j in 0..<dim { s[j] += Double(h[j]) } }
      }
      // Inputs fed to their end free their cache blocks for the next batch.
      for i in Set(owner) where i < next {
        cache.removeSequence(cacheSeq[i])
        cacheSeq[i] = -1
      }
    }
    return sums.map { sum in
      let norm = sum.reduce(0) { $0 + $1 * $1 }.squareRoot()
      return norm > 0 ? sum.map { Float($0 / norm) } : [Float](repeating: 0, count: dim)
    }
  }
}

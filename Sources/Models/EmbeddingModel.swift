import GGUF

/// A model that turns token sequences into fixed-size vectors (sentence embeddings).
///
/// Unlike a `LanguageModel` there is no KV cache and no step-by-step decoding: each call runs
/// whole sequences through the encoder at once, with bidirectional attention inside each one.
public protocol EmbeddingModel: AnyObject, Sendable {
  /// Length of every vector `embed` returns.
  var dimension: Int { get }
  /// The most tokens one sequence may have (the position table's length).
  var maxPositions: Int { get }
  /// One L2-normalised vector per sequence, in order. Thread-safe.
  func embed(tokens: [[Int]]) throws -> [[Float]]
}

/// How token vectors become one sentence vector (sentence-transformers' Pooling module).
public enum Pooling: String, Sendable, Equatable {
  /// Mean over every token the attention mask keeps ([CLS] and [SEP] included).
  case mean
  /// The first token's vector ([CLS]).
  case cls

  /// llama.cpp's `<arch>.pooling_type` numbers.
  public var ggufValue: UInt32 { self == .mean ? 1 : 2 }

  public init?(ggufValue: Int) {
    switch ggufValue {
    case 1: self = .mean
    case 2: self = .cls
    default: return nil
    }
  }
}

/// Why a BERT model could not be loaded or run. Each case names the problem and where it is.
public enum BertError: Error, Equatable, Sendable, CustomStringConvertible {
  case cannotRead(path: String, reason: String)
  case badConfig(file: String, reason: String)
  case badHyperparameter(key: String, value: String, reason: String)
  case safetensors(SafeTensorsError)
  case gguf(GGUFError)
  case notBert(architecture: String)
  case missingTensor(String)
  case unexpectedTensor(String)
  case tensorShape(tensor: String, expected: [Int], found: [Int])
  case unsupportedTensorType(tensor: String, type: String)
  case emptySequence(index: Int)
  case tooManyTokens(index: Int, count: Int, limit: Int)
  case badToken(id: Int, vocab: Int)

  public var description: String {
    switch self {
    case .cannotRead(let p, let r): return "cannot read \(p): \(r)"
    case .badConfig(let f, let r): return "\(f): \(r)"
    case .badHyperparameter(let k, let v, let r): return "bad hyperparameter \(k) = \(v): \(r)"
    case .safetensors(let e): return e.description
    case .gguf(let e): return e.description
    case .notBert(let a): return "architecture '\(a)' is not bert"
    case .missingTensor(let n): return "missing tensor '\(n)'"
    case .unexpectedTensor(let n): return "tensor '\(n)' is not part of a BERT encoder this engine knows"
    case .tensorShape(let n, let e, let f): return "tensor '\(n)' has shape \(f), expected \(e)"
    case .unsupportedTensorType(let t, let ty): return "tensor '\(t)' has type \(ty), which this engine cannot compute with"
    case .emptySequence(let i): return "sequence \(i) has no tokens"
    case .tooManyTokens(let i, let n, let l): return "sequence \(i) has \(n) tokens, more than the model's \(l) positions"
    case .badToken(let id, let v): return "token id \(id) is outside the vocabulary (0..<\(v))"
    }
  }
}

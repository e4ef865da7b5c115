import GGUF

/// Why a quantization, pruning or evaluation could not run. Each case names the file or option
/// and the problem, for a one-line CLI error.
public enum LifecycleError: Error, Equatable, Sendable, CustomStringConvertible {
  case cannotOpen(path: String, reason: String)
  case unsupportedTarget(String)
  case unsupportedSourceType(tensor: String, type: String)
  case sameFile(String)
  case missingBlockCount(key: String)
  case badLayerList(String, reason: String)
  case layerOutOfRange(layer: Int, count: Int)
  case allLayersDropped(count: Int)
  case textTooShort(tokens: Int, needed: Int, ctx: Int)
  case badContext(ctx: Int, reason: String)
  case addsEOS
  case differentVocabularies(base: Int, candidate: Int)
  case differentTokenization
  case model(String)
  case writeFailed(path: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let p, let r): return "\(p): \(r)"
    case .unsupportedTarget(let t):
      return "cannot quantize to \(t) (supported: \(QuantizationPlan.targets.map(\.name).joined(separator: ", ")))"
    case .unsupportedSourceType(let t, let ty): return "tensor '\(t)' has type \(ty), which hearth cannot dequantize"
    case .sameFile(let p): return "the output \(p) is the input file"
    case .missingBlockCount(let k): return "missing metadata key '\(k)'"
    case .badLayerList(let s, let r): return "--drop-layers '\(s)': \(r)"
    case .layerOutOfRange(let l, let n): return "layer \(l) does not exist (the model has layers 0-\(n - 1))"
    case .allLayersDropped(let n): return "dropping every one of the \(n) layers leaves no model"
    case .textTooShort(let t, let n, let c): return "the text has \(t) tokens; a context of \(c) needs at least \(n) (two windows)"
    case .badContext(let c, let r): return "--ctx \(c): \(r)"
    case .addsEOS: return "the tokenizer appends EOS to every text, so windows cannot be cut from it"
    case .differentVocabularies(let a, let b): return "the models have different vocabularies (\(a) and \(b) tokens)"
    case .differentTokenization: return "the models tokenize the text differently, so their distributions cannot be compared"
    case .model(let m): return m
    case .writeFailed(let p, let r): return "cannot write \(p): \(r)"
    }
  }
}

import GGUF
import Kernels

/// A decoder-only language model: immutable weights mapped from a GGUF file.
///
/// All mutable state lives outside the model: the KV cache and a `ForwardState` of activation
/// buffers. One forward step runs a `Batch` (tokens of any number of sequences) and leaves one
/// row of logits per token that asked for it in `state.logits`.
public protocol LanguageModel: AnyObject, Sendable {
  var config: ModelConfig { get }
  var file: GGUFFile { get }

  /// Runs `batch` through the model, writing K/V into `cache` and logits into `state.logits`.
  /// Returns the number of logit rows written (the batch's tokens with `wantsLogits`).
  func forward(_ batch: Batch, cache: KVCache, state: ForwardState) throws(ModelError) -> Int
}

extension LanguageModel {
  /// Activation buffers for batches of up to `maxBatch` tokens, `maxOutputs` of them with logits.
  /// `keepHidden` also keeps every token's final-normed hidden state (`state.hidden`), for
  /// decoder-pooled embeddings.
  public func makeState(
    maxBatch: Int = 512, maxOutputs: Int = 64, mode: KernelMode = .fast, pool: ThreadPool, keepHidden: Bool = false
  ) -> ForwardState {
    ForwardState(config: config, maxBatch: maxBatch, maxOutputs: maxOutputs, mode: mode, pool: pool, keepHidden: keepHidden)
  }

  /// A KV cache for this model holding `maxTokens` positions (over all sequences), for forward
  /// passes in `mode`: f16 keys and values, f32 for exact mode, unless `precision` says.
  public func makeCache(maxTokens: Int, blockTokens: Int = 32, mode: KernelMode = .fast, precision: KVPrecision? = nil) -> KVCache {
    KVCache(config: config, blockTokens: blockTokens, maxTokens: maxTokens, precision: precision ?? KVPrecision(for: mode))
  }
}

/// Architectures by `general.architecture`, each with its constructor.
public enum Architectures {
  public typealias Constructor = @Sendable (GGUFFile) throws(ModelError) -> any LanguageModel

  public static let registry: [String: Constructor] = [
    "llama": { f throws(ModelError) in try Llama(file: f) },
    "qwen2": { f throws(ModelError) in try Qwen2(file: f) },
    "gemma3": { f throws(ModelError) in try Gemma3(file: f) },
  ]

  public static var names: [String] { registry.keys.sorted() }

  /// Opens and validates `path`, then binds it to its architecture.
  public static func load(path: String) throws(ModelError) -> any LanguageModel {
    let file: GGUFFile
    do { file = try GGUFFile(path: path) } catch { throw .gguf(error) }
    return try load(file: file)
  }

  public static func load(file: GGUFFile) throws(ModelError) -> any LanguageModel {
    guard let arch = file.architecture else { throw .missingArchitecture }
    guard let make = registry[arch] else { throw .unsupportedArchitecture(arch) }
    return try make(file)
  }
}

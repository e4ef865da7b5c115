import Engine
import Foundation
import Kernels
import Models
import Tokenizers

/// Evaluation settings, named as llama-perplexity names them.
public struct EvalOptions: Sendable {
  /// Tokens per window (llama-perplexity's -c).
  public var ctx = 512
  /// Tokens per forward pass (-b); a window takes ctx / batch passes.
  public var batch = 512
  /// Most windows to evaluate (--chunks); nil: as many as the text holds.
  public var chunks: Int? = nil
  public var threads = 2
  public var mode: KernelMode = .fast

  public init(ctx: Int = 512, batch: Int? = nil, chunks: Int? = nil, threads: Int = 2, mode: KernelMode = .fast) {
    self.ctx = ctx
    self.batch = min(batch ?? ctx, ctx)
    self.chunks = chunks
    self.threads = threads
    self.mode = mode
  }
}

/// The evaluation text cut as llama-perplexity cuts it: the whole text is tokenized once (BOS
/// first when the model asks for one, special-token text left as text), then split into
/// back-to-back windows of `ctx` tokens. Each window starts a fresh context whose first token is
/// replaced by BOS (when the model uses BOS), and only its second half is scored: the logits at
/// positions ctx/2 ... ctx-2 predict tokens ctx/2+1 ... ctx-1, so every scored token has at
/// least ctx/2 tokens of context. A trailing partial window is not used.
public struct EvalWindows: Sendable {
  public let tokens: [Int]
  public let ctx: Int
  public let count: Int
  public let bos: Int?

  /// First position whose logits are scored.
  public var first: Int { ctx / 2 }
  /// Scored tokens per window.
  public var scoredPerWindow: Int { ctx - first - 1 }

  public init(text: String, tokenizer: any Tokenizer, options: EvalOptions) throws(LifecycleError) {
    guard options.ctx >= 8 else { throw .badContext(ctx: options.ctx, reason: "must be at least 8") }
    guard !tokenizer.addEos else { throw .addsEOS }
    tokens = tokenizer.encode(text, addSpecial: true, parseSpecial: false)
    ctx = options.ctx
    guard tokens.count >= 2 * ctx else { throw .textTooShort(tokens: tokens.count, needed: 2 * ctx, ctx: ctx) }
    count = min(tokens.count / ctx, options.chunks ?? Int.max)
    bos = tokenizer.addBos ? tokenizer.bosId : nil
  }

  /// Window `i`'s tokens, with BOS in front where the model uses it.
  public func window(_ i: Int) -> [Int] {
    var w = Array(tokens[(i * ctx)..<((i + 1) * ctx)])
    if let bos { w[0] = bos }
    return w
  }
}

/// Runs one model over windows in batches, exposing the logits of the scored positions.
final class WindowRunner {
  let model: any LanguageModel
  let state: ForwardState
  let cache: KVCache
  let batchSize: Int
  private var batch: Batch
  private var sequence: Int?

  init(model: any LanguageModel, options: EvalOptions, pool: ThreadPool) throws(LifecycleError) {
    guard options.ctx <= model.config.contextLength else {
      throw .badContext(ctx: options.ctx, reason: "longer than the model's context of \(model.config.contextLength)")
    }
    self.model = model
    batchSize = options.batch
    state = model.makeState(maxBatch: batchSize, maxOutputs: batchSize, mode: options.mode, pool: pool)
    cache = model.makeCache(maxTokens: options.ctx, blockTokens: 32, mode: options.mode)
    batch = Batch(capacity: batchSize)
  }

  /// Starts a window on an empty cache.
  func begin() {
    if let s = sequence { cache.removeSequence(s) }
    sequence = cache.createSequence()
  }

  /// Feeds `window[range]` (the next batch of the current window); positions from `first` on
  /// ask for logits. Returns how many logit rows the state now holds, in position order.
  func feed(_ window: [Int], _ range: Range<Int>, first: Int) throws(LifecycleError) -> Int {
    batch.clear()
    for p in range { batch.add(token: window[p], position: p, sequence: sequence!, logits: p >= first && p < window.count - 1) }
    do { return try model.forward(batch, cache: cache, state: state) } catch { throw .model(error.description) }
  }

  func logits(_ row: Int) -> UnsafeBufferPointer<Float> { UnsafeBufferPointer(state.logitsRow(row)) }
}

/// log-sum-exp of a logits row, in Double: log-probabilities are `logit - lse`.
@inline(__always)
func logSumExp(_ x: UnsafeBufferPointer<Float>) -> Double {
  var m = -Float.infinity
  for v in x where v > m { m = v }
  var s = 0.0
  for v in x { s += exp(Double(v - m)) }
  return Double(m) + log(s)
}

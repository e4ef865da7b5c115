import ArgumentParser
import Engine
import Foundation
import Lifecycle

/// `hearth eval ...`: perplexity and model comparison on a text file, as llama-perplexity measures.
struct EvalCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "eval",
    abstract: "Evaluate models on a text: perplexity, or a comparison of a candidate against a base.",
    subcommands: [EvalPerplexity.self, EvalCompare.self])
}

/// Window and thread settings shared by `eval perplexity` and `eval compare`.
struct EvalSettings: ParsableArguments {
  @Option(help: "Evaluation text (UTF-8), e.g. the corpus from scripts/eval-corpus.") var text: String
  @Option(help: "Tokens per window; the second half of each window is scored.") var ctx: Int = 512
  @Option(help: "Tokens per forward pass (default: --ctx).") var batch: Int?
  @Option(help: "Evaluate at most this many windows (default: all the text holds).") var chunks: Int?
  @Option(help: "Threads (default: all cores).") var threads: Int?

  static let maxTextBytes = 64 << 20

  func validate() throws {
    if ctx < 8 || ctx > 131_072 { throw ValidationError("--ctx must be between 8 and 131072") }
    if let b = batch, b < 1 || b > ctx { throw ValidationError("--batch must be between 1 and --ctx") }
    if let c = chunks, c < 1 { throw ValidationError("--chunks must be at least 1") }
    if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256") }
  }

  var options: EvalOptions {
    EvalOptions(ctx: ctx, batch: batch, chunks: chunks, threads: threads ?? ProcessInfo.processInfo.activeProcessorCount)
  }

  /// The text, or exit 2 naming the problem. The size limit is checked before reading.
  func readText() -> String {
    guard let attrs = try? FileManager.default.attributesOfItem(atPath: text), attrs[.type] as? FileAttributeType == .typeRegular,
      let size = (attrs[.size] as? NSNumber)?.intValue
    else { fail("no such file: \(text)") }
    if size > Self.maxTextBytes { fail("\(text) is \(formatBytes(size)); the limit is \(formatBytes(Self.maxTextBytes))") }
    guard let data = FileManager.default.contents(atPath: text), let s = String(data: data, encoding: .utf8) else {
      fail("\(text) is not UTF-8 text")
    }
    return s
  }
}

/// Exits with one line for an evaluation error: 2 for unusable input (text, model), else 1.
func failEval(_ error: LifecycleError) -> Never {
  switch error {
  case .textTooShort, .badContext, .addsEOS, .differentVocabularies, .differentTokenization, .cannotOpen: fail(error.description, code: 2)
  default: fail(error.description, code: 1)
  }
}

struct EvalPerplexity: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "perplexity",
    abstract: "Perplexity of a model on a text, computed as llama-perplexity computes it.",
    discussion: "The text is cut into windows of --ctx tokens (BOS first where the model uses it); the second half of each window is scored.")

  @Argument(help: "Path to a .gguf model.") var model: String
  @OptionGroup var settings: EvalSettings

  func run() throws {
    let text = settings.readText()
    let m = loadModel(model)
    let bar = ProgressBar(unit: .count("windows"))
    let r: PerplexityResult
    do { r = try Evaluation.perplexity(model: m, text: text, options: settings.options, progress: bar.handler) } catch {
      bar.finishLine()
      failEval(error)
    }
    bar.finishLine()
    print(String(format: "PPL = %.4f +/- %.5f", r.perplexity, r.uncertainty))
    print(String(format: "%d windows of %d tokens, %d scored tokens (text: %d tokens), %.1f s", r.windows, settings.ctx, r.scoredTokens,
      r.textTokens, r.seconds))
  }
}

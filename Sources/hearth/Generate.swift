import ArgumentParser
import Engine
import Foundation

/// `hearth generate`: one completion, only the generated text on stdout.
struct Generate: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Generate text from a prompt; prints only the generated text.")

  @Option(help: "Path to a .gguf model.") var model: String
  @Option(help: "The prompt.") var prompt: String
  @Option(name: .customLong("max-tokens"), help: "Most tokens to generate.") var maxTokens: Int = 128
  @Flag(help: "Skip the chat template: continue the prompt text as is (BOS still added where the model asks).") var raw = false
  @Option(help: "Stop when this string is generated (repeatable).") var stop: [String] = []
  @OptionGroup var sampling: SamplingOptions
  @OptionGroup var engine: EngineOptions

  func validate() throws {
    if maxTokens < 1 { throw ValidationError("--max-tokens must be at least 1") }
  }

  func run() throws {
    let m = loadModel(model)
    let tokens: [Int]
    do {
      tokens = raw ? m.rawTokens(prompt) : try m.chatTokens([ChatMessage(role: "user", content: prompt)])
    } catch { fail(error.description) }
    let scheduler = Scheduler(model: m.model, tokenizer: m.tokenizer, config: engine.schedulerConfig(for: m))
    var failure: String? = nil
    scheduler.submit(m.request(prompt: tokens, sampling: sampling.params, maxTokens: maxTokens, stop: stop)) { event in
      switch event {
      case .token(_, let text, _): emit(text)
      case .finished(_, let text, _): emit(text)
      case .failed(let message): failure = message
      case .admitted: break
      }
      return true
    }
    scheduler.runUntilIdle()
    if let failure { fail(failure, code: 1) }
    // Only the generated text when piped or captured; a newline only for a person at a terminal.
    if isatty(STDOUT_FILENO) != 0 { emit("\n") }
  }
}

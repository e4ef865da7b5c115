import ArgumentParser
import Engine
import Foundation

/// `hearth run MODEL [PROMPT]`: chat through the model's template, streaming tokens. Without a
/// prompt it is interactive: one line per turn, `/clear` to forget, `/bye` or end of input to quit.
struct Run: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Chat with a model, streaming its answers (interactive without a prompt).")

  @Argument(help: "Path to a .gguf model.") var model: String
  @Argument(help: "A single prompt; omit for an interactive chat.") var prompt: String?
  @Option(help: "A system message.") var system: String?
  @Option(name: .customLong("max-tokens"), help: "Most tokens per answer.") var maxTokens: Int = 512
  @Flag(help: "Print timing after each answer (stderr).") var verbose = false
  @OptionGroup var sampling: SamplingOptions
  @OptionGroup var engine: EngineOptions

  func run() throws {
    let m = loadModel(model)
    let scheduler = Scheduler(model: m.model, tokenizer: m.tokenizer, config: engine.schedulerConfig(for: m))
    var history: [ChatMessage] = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
    if verbose { log(String(format: "loaded %@ in %.2f s", m.path, m.loadSeconds)) }

    if let prompt {
      history.append(ChatMessage(role: "user", content: prompt))
      _ = answer(m, scheduler, history)
      return
    }
    let interactive = isatty(STDIN_FILENO) != 0
    if interactive { log("Chatting with \(URL(fileURLWithPath: m.path).lastPathComponent). /clear forgets, /bye quits.") }
    while true {
      if interactive { FileHandle.standardError.write(Data(">>> ".utf8)) }
      guard let line = readLine() else { break }
      let text = line.trimmingCharacters(in: .whitespaces)
      if text.isEmpty { continue }
      if text == "/bye" || text == "/exit" { break }
      if text == "/clear" {
        history = system.map { [ChatMessage(role: "system", content: $0)] } ?? []
        continue
      }
      history.append(ChatMessage(role: "user", content: text))
      let reply = answer(m, scheduler, history)
      history.append(ChatMessage(role: "assistant", content: reply))
    }
  }

  /// Streams one answer to stdout and returns its text.
  private func answer(_ m: LoadedModel, _ scheduler: Scheduler, _ history: [ChatMessage]) -> String {
    let tokens: [Int]
    do { tokens = try m.chatTokens(history) } catch { fail(error.description) }
    let budget = min(maxTokens, scheduler.maxRequestTokens - tokens.count)
    if budget < 1 { fail("the conversation (\(tokens.count) tokens) no longer fits the context; /clear or raise --ctx", code: 1) }
    var reply = ""
    var failure: String? = nil
    var generated = 0
    let start = Date()
    var firstToken: Date? = nil
    scheduler.submit(m.request(prompt: tokens, sampling: sampling.params, maxTokens: budget)) { event in
      switch event {
      case .token(_, let text, _):
        if firstToken == nil { firstToken = Date() }
        generated += 1
        reply += text
        emit(text)
      case .finished(_, let text, _):
        reply += text
        emit(text)
      case .failed(let message): failure = message
      case .admitted: break
      }
      return true
    }
    scheduler.runUntilIdle()
    if let failure { fail(failure, code: 1) }
    emit("\n")
    if verbose, let firstToken {
      let prefill = firstToken.timeIntervalSince(start)
      let decode = Date().timeIntervalSince(firstToken)
      log(String(format: "prompt %d tokens in %.2f s (%.1f t/s); %d tokens in %.2f s (%.1f t/s)",
                 tokens.count, prefill, Double(tokens.count) / prefill, generated, decode, Double(max(generated - 1, 0)) / max(decode, 1e-9)))
    }
    return reply
  }

  private func log(_ s: String) { FileHandle.standardError.write(Data((s + "\n").utf8)) }
}

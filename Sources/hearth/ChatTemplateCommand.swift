import ArgumentParser
import Engine
import Foundation
import Tokenizers

/// `hearth chat-template`: the prompt a model's chat template renders, generation prompt included.
struct ChatTemplateCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "chat-template", abstract: "Print the prompt the model's chat template renders for some messages.")

  @Option(help: "Path to a .gguf model.") var model: String
  @Option(help: "Messages as JSON: [{\"role\":\"user\",\"content\":\"Hi\"}, ...]") var messages: String
  @Flag(name: .customLong("no-generation-prompt"), help: "Do not append the assistant turn's opening.") var noGenerationPrompt = false

  func run() throws {
    let f = openGGUF(model)
    let tokenizer: any Tokenizer
    do { tokenizer = try Tokenizers.load(from: f) } catch { fail("\(model): \(error.description)") }
    let template: ChatTemplate
    do {
      guard let t = try ChatTemplate.load(from: f) else { fail("\(model) has no chat template and no built-in one for its architecture") }
      template = t
    } catch { fail("\(model): chat template: \(error.description)") }
    let list: [JinjaValue]
    do {
      guard case .array(let a) = try JinjaValue(json: messages) else { fail("--messages must be a JSON array of messages", code: 64) }
      list = a
    } catch { fail("--messages is not valid JSON: \(error.description)", code: 64) }
    let text = { (id: Int?) in id.map { String(decoding: tokenizer.tokenBytes($0), as: UTF8.self) } ?? "" }
    do {
      let out = try template.render(
        messages: list, addGenerationPrompt: !noGenerationPrompt, bosToken: text(tokenizer.bosId), eosToken: text(tokenizer.eosId))
      FileHandle.standardOutput.write(Data(out.utf8))
    } catch { fail("chat template: \(error.description)", code: 1) }
  }
}

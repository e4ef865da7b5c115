import Foundation
import GGUF
import Models
import Tokenizers

/// Why a model could not be opened: one line naming the problem, for the CLI and the server.
public enum EngineError: Error, CustomStringConvertible, Sendable {
  case notFound(String)
  case model(path: String, ModelError)
  case tokenizer(path: String, TokenizerError)
  case template(String)
  case noChatTemplate(String)

  public var description: String {
    switch self {
    case .notFound(let p): return "no such file: \(p)"
    case .model(let p, let e): return "\(p): \(e.description)"
    case .tokenizer(let p, let e): return "\(p): \(e.description)"
    case .template(let m): return "chat template: \(m)"
    case .noChatTemplate(let p): return "\(p) has no chat template and its architecture has no built-in one; use --raw"
    }
  }
}

/// One chat message, as the OpenAI API and chat templates see it.
public struct ChatMessage: Sendable, Equatable, Codable {
  public var role: String
  public var content: String

  public init(role: String, content: String) {
    self.role = role
    self.content = content
  }
}

/// A model ready to serve: weights bound, tokenizer built, chat template parsed.
public final class LoadedModel: @unchecked Sendable {
  public let path: String
  public let model: any LanguageModel
  public let tokenizer: any Tokenizer
  public let template: ChatTemplate?
  /// Seconds from opening the file to ready.
  public let loadSeconds: Double

  public var file: GGUFFile { model.file }
  public var config: ModelConfig { model.config }

  public convenience init(path: String) throws(EngineError) {
    let start = Date()
    guard FileManager.default.fileExists(atPath: path) else { throw .notFound(path) }
    let model: any LanguageModel
    do { model = try Architectures.load(path: path) } catch { throw .model(path: path, error) }
    try self.init(model: model, name: path, start: start)
  }

  /// A model already parsed in memory (an encrypted artifact decrypted at load); `name` stands in
  /// for the path in errors and listings.
  public convenience init(file: GGUFFile, name: String) throws(EngineError) {
    let start = Date()
    let model: any LanguageModel
    do { model = try Architectures.load(file: file) } catch { throw .model(path: name, error) }
    try self.init(model: model, name: name, start: start)
  }

  private init(model: any LanguageModel, name: String, start: Date) throws(EngineError) {
    self.path = name
    self.model = model
    do { tokenizer = try Tokenizers.load(from: model.file) } catch { throw .tokenizer(path: name, error) }
    do { template = try ChatTemplate.load(from: model.file) } catch { throw .template(error.description) }
    loadSeconds = Date().timeIntervalSince(start)
  }

  var bosText: String { tokenizer.bosId.map { String(decoding: tokenizer.tokenBytes($0), as: UTF8.self) } ?? "" }
  var eosText: String { tokenizer.eosId.map { String(decoding: tokenizer.tokenBytes($0), as: UTF8.self) } ?? "" }

  /// The prompt the model's chat template renders for `messages`.
  public func renderChat(_ messages: [ChatMessage], addGenerationPrompt: Bool = true) throws(EngineError) -> String {
    guard let template else { throw .noChatTemplate(path) }
    let values = messages.map { JinjaValue.object(["role": .string($0.role), "content": .string($0.content)]) }
    do {
      return try template.render(messages: values, addGenerationPrompt: addGenerationPrompt, bosToken: bosText, eosToken: eosText)
    } catch {
      throw .template(error.description)
    }
  }

  /// Token ids of a rendered chat. Templates that print the BOS token themselves would get a
  /// second one from the tokenizer, so (like llama.cpp) the printed one is dropped.
  public func chatTokens(_ messages: [ChatMessage]) throws(EngineError) -> [Int] {
    var text = try renderChat(messages)
    if tokenizer.addBos, !bosText.isEmpty, text.hasPrefix(bosText) { text.removeFirst(bosText.count) }
    return tokenizer.encode(text, addSpecial: true, parseSpecial: true)
  }

  /// Token ids of raw text (BOS added where the model asks for it).
  public func rawTokens(_ text: String) -> [Int] {
    tokenizer.encode(text, addSpecial: true, parseSpecial: true)
  }

  /// A request that stops at the model's end-of-generation tokens.
  public func request(prompt: [Int], sampling: SamplingParams, maxTokens: Int, stop: [String] = []) -> GenerationRequest {
    GenerationRequest(prompt: prompt, sampling: sampling, maxTokens: maxTokens, stop: stop, stopTokens: tokenizer.eogIds)
  }
}

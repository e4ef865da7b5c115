import Foundation
import GGUF
import Testing

@testable import Tokenizers

/// Paths of the real models (scripts/fetch-models, or $HEARTH_MODELS) and the llama.cpp references
/// (Tests/Fixtures/reference (a copy of ../shared/reference), or $HEARTH_REFERENCE).
enum Paths {
  static let testDir = URL(fileURLWithPath: #filePath).deletingLastPathComponent()

  static var models: String {
    ProcessInfo.processInfo.environment["HEARTH_MODELS"]
      ?? testDir.appendingPathComponent("../../models").standardized.path
  }

  static var reference: String {
    ProcessInfo.processInfo.environment["HEARTH_REFERENCE"]
      ?? testDir.appendingPathComponent("../Fixtures/reference").standardized.path
  }

  static var fixtures: URL { testDir.appendingPathComponent("Fixtures") }

  static let ggufFiles = [
    "smollm2": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3": "gemma-3-270m-q4_k_m.gguf",
    "qwen2": "qwen2.5-coder-0.5b-instruct-q4_k_m.gguf",
  ]
}

struct MissingFile: Error, CustomStringConvertible {
  let path: String
  var description: String { "missing \(path): run scripts/fetch-models (models) or provide Tests/Fixtures/reference" }
}

func requireFile(_ path: String) throws -> String {
  guard FileManager.default.fileExists(atPath: path) else { throw MissingFile(path: path) }
  return path
}

/// Loaded once per process: the 262k-token Gemma vocabulary is shared by all tests.
final class ModelCache: @unchecked Sendable {
  static let shared = ModelCache()
  private let lock = NSLock()
  private var files: [String: GGUFFile] = [:]
  private var tokenizers: [String: any Tokenizer] = [:]

  func file(_ name: String) throws -> GGUFFile {
    lock.lock()
    defer { lock.unlock() }
    if let f = files[name] { return f }
    let f = try GGUFFile(path: requireFile(Paths.models + "/" + Paths.ggufFiles[name]!))
    files[name] = f
    return f
  }

  func tokenizer(_ name: String) throws -> any Tokenizer {
    let f = try file(name)
    lock.lock()
    defer { lock.unlock() }
    if let t = tokenizers[name] { return t }
    let t = try Tokenizers.load(from: f)
    tokenizers[name] = t
    return t
  }
}

struct ReferenceFile: Decodable {
  struct Tokenize: Decodable {
    let text: String
    let add_special_true: [Int]
    let add_special_false: [Int]
  }
  struct Generation: Decodable {
    let prompt: String
    let prompt_tokens: [Int]
    let tokens: [Int]
    let text: String
    let stop_type: String?
  }
  struct Chat: Decodable {
    let add_generation_prompt: Bool
    let rendered: String
  }
  let tokenize: [Tokenize]
  let generation: [Generation]
  let chat_template: [Chat]

  static func load(_ name: String) throws -> ReferenceFile {
    let data = try Data(contentsOf: URL(fileURLWithPath: requireFile(Paths.reference + "/\(name).json")))
    return try JSONDecoder().decode(ReferenceFile.self, from: data)
  }
}

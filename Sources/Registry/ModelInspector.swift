import Crypto
import Foundation
import GGUF
import Models
import Tokenizers

/// The facts a manifest records about a model file, read after it passed every check.
public struct ModelFacts: Sendable, Equatable {
  public var architecture: String
  public var parameters: Int
  public var quantTypes: [QuantTypeUsage]
  public var contextLength: Int?
  public var chatTemplate: ChatTemplateInfo
  public var license: String?
  public var modelName: String?
}

/// Validates a GGUF as fully as loading it would: the file structure (GGUFFile), the binding of
/// every tensor to its architecture, the tokenizer and the chat template. A file that passes
/// here will load in the engine.
public enum ModelInspector {
  public static func inspect(path: String) throws(RegistryError) -> ModelFacts {
    let file: GGUFFile
    do { file = try GGUFFile(path: path) } catch {
      if case .cannotOpen(_, let reason) = error { throw .sourceUnreadable(path: path, reason: reason) }
      throw .invalidModel(path: path, reason: error.description)
    }
    return try inspect(file: file, path: path)
  }

  public static func inspect(file: GGUFFile, path: String) throws(RegistryError) -> ModelFacts {
    guard let arch = file.architecture else { throw .invalidModel(path: path, reason: "missing metadata key 'general.architecture'") }
    var contextLength = file.int("\(arch).context_length")
    if arch == "bert" {
      let bert: Bert
      do { bert = try Bert(file: file, threads: 1) } catch { throw .invalidModel(path: path, reason: error.description) }
      contextLength = bert.maxPositions
    } else {
      let model: any LanguageModel
      do { model = try Architectures.load(file: file) } catch { throw .invalidModel(path: path, reason: error.description) }
      contextLength = model.config.contextLength
    }
    do { _ = try Tokenizers.load(from: file) } catch { throw .invalidModel(path: path, reason: "tokenizer: \(error.description)") }

    var template = ChatTemplateInfo(present: false, sha256: nil)
    if let v = file["tokenizer.chat_template"] {
      guard let text = v.string else { throw .invalidModel(path: path, reason: "tokenizer.chat_template is not a string") }
      do { _ = try ChatTemplate(text) } catch { throw .invalidModel(path: path, reason: "chat template: \(error.description)") }
      template = ChatTemplateInfo(present: true, sha256: Digest(sha256: SHA256.hash(data: Data(text.utf8))).hex)
    }

    var usage: [GGMLType: (tensors: Int, bytes: Int)] = [:]
    for t in file.tensors { usage[t.type, default: (0, 0)].tensors += 1; usage[t.type, default: (0, 0)].bytes += t.byteCount }
    let types = usage.map { QuantTypeUsage(type: $0.key.name, tensors: $0.value.tensors, bytes: $0.value.bytes) }
      .sorted { ($0.bytes, $1.type) > ($1.bytes, $0.type) }

    return ModelFacts(
      architecture: arch,
      parameters: file.tensors.reduce(0) { $0 + $1.elementCount },
      quantTypes: types,
      contextLength: contextLength,
      chatTemplate: template,
      license: file.string("general.license"),
      modelName: file.string("general.name"))
  }
}

import GGUF

/// Entry point: picks the implementation a GGUF file's `tokenizer.ggml.model` names.
public enum Tokenizers {
  public static func load(from file: GGUFFile) throws(TokenizerError) -> any Tokenizer {
    guard let model = file.metadata["tokenizer.ggml.model"] else { throw .missingMetadata(key: "tokenizer.ggml.model") }
    guard let name = model.string else { throw .wrongMetadataType(key: "tokenizer.ggml.model", expected: "a string") }
    switch name {
    case "gpt2": return try BPETokenizer(file: file)
    case "llama": return try SPMTokenizer(file: file)
    default:
      throw .unsupportedModel(name)
    }
  }
}

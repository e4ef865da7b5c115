import ArgumentParser
import Engine
import Foundation
import GGUF
import Tokenizers

/// `hearth tokenize`: token ids as a JSON array, as llama.cpp's tokenizer gives them.
struct Tokenize: ParsableCommand {
  static let configuration = CommandConfiguration(abstract: "Print the token ids of a text as a JSON array.")

  @Option(help: "Path to a .gguf model.") var model: String
  @Flag(name: .customLong("no-bos"), help: "Do not add BOS (or other special tokens the model adds).") var noBos = false
  @Flag(name: .customLong("no-parse-special"), help: "Treat special-token text like <|im_start|> as plain text.") var noParseSpecial = false
  @Argument(help: "The text.") var text: String

  func run() throws {
    let tokenizer = loadTokenizer(model)
    let ids = tokenizer.encode(text, addSpecial: !noBos, parseSpecial: !noParseSpecial)
    print("[" + ids.map(String.init).joined(separator: ", ") + "]")
  }
}

/// Opens a GGUF and builds only its tokenizer (no weights bound), or exits with one line.
func loadTokenizer(_ path: String) -> any Tokenizer {
  let f = openGGUF(path)
  do { return try Tokenizers.load(from: f) } catch { fail("\(path): \(error.description)") }
}

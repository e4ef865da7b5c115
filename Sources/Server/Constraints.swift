import Engine
import ServingAPI
import Tokenizers

/// Turns `response_format` into a token constraint for the engine. Every problem (a schema that
/// is invalid, unsupported, or needs more than `max_tokens`) is the client's, and is answered with
/// a 400 before any work starts.
enum Constraints {
  static func factory(for format: ResponseFormat, tokenizer: any Tokenizer, maxTokens: Int) throws(APIError) -> ConstraintFactory? {
    do {
      let grammar: JSONGrammar
      switch format {
      case .text: return nil
      case .jsonObject: grammar = JSONGrammar.anyObject
      case .jsonSchema(_, let schema): grammar = try JSONGrammar(schemaJSON: schema.text)
      }
      try grammar.checkBudget(maxTokens: maxTokens)
      return try JSONConstraint.factory(grammar: grammar, tokenizer: tokenizer)
    } catch {
      let param = format == .jsonObject && error.parameter != "max_tokens" ? "response_format" : error.parameter
      throw APIError.invalid(param, error.description)
    }
  }
}

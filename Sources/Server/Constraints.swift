import Engine
import ServingAPI
import Tokenizers

/// Turns `response_format` into a token constraint for the engine.
enum Constraints {
  static func factory(for format: ResponseFormat, tokenizer: any Tokenizer, maxTokens: Int) throws(APIError) -> ConstraintFactory? {
    switch format {
    case .text: return nil
    case .jsonObject, .jsonSchema:
      throw APIError.invalid("response_format", "structured output is not available in this build")
    }
  }
}

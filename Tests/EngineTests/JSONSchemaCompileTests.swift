import Foundation
import Testing

@testable import Engine

@Suite struct JSONSchemaCompileTests {
  func error(_ schema: String) -> JSONSchemaError? {
    do {
      _ = try JSONGrammar(schemaJSON: schema)
      return nil
    } catch {
      return error
    }
  }

  @Test func refusesWhatItCannotEnforce() {
    #expect(error(#"{"type":"object","properties":{"a":{"type":"string","pattern":"x"}}}"#) == .unsupportedKeyword("pattern", at: "#/properties/a"))
    #expect(error(#"{"type":"object","properties":{"n":{"type":"number","minimum":0}}}"#) == .unsupportedKeyword("minimum", at: "#/properties/n"))
    #expect(error(#"{"type":"object","oneOf":[]}"#) == .unsupportedKeyword("oneOf", at: "#"))
    #expect(error(#"{"type":"object","properties":{"t":{"type":"array","items":[{"type":"string"}]}}}"#)
      == .unsupportedKeyword("items (as an array)", at: "#/properties/t"))
    #expect(error(#"{"type":"object","properties":{"e":{"enum":["a"],"maxLength":3}}}"#) == .invalid("'maxLength' beside 'enum' is not supported", at: "#/properties/e"))
    #expect(error(##"{"type":"object","properties":{"r":{"$ref":"#/$defs/x","type":"string"}},"$defs":{"x":{}}}"##)
      == .invalid("'type' beside '$ref' is not supported", at: "#/properties/r"))
  }

  @Test func refusesMalformedSchemas() {
    guard case .invalidJSON = error(#"{"type":"object""#) else { Issue.record("truncated JSON"); return }
    guard case .invalidJSON = error(#"{"type":"object","type":"object"}"#) else { Issue.record("duplicate key"); return }
    #expect(error(#"{"type":"thing"}"#) == .invalid("unknown type 'thing'", at: "#"))
    #expect(error(#"{"type":"object","properties":{"a":{"type":"string","maxLength":-1}}}"#)
      == .invalid("'maxLength' must be a non-negative integer", at: "#/properties/a"))
    #expect(error(#"{"type":"object","required":["x"]}"#) == .invalid("required property 'x' is not in 'properties'", at: "#"))
    #expect(error(#"{"type":"object","properties":{"e":{"type":"string","enum":[1,2]}}}"#) == .invalid("no 'enum' value has the schema's type", at: "#/properties/e"))
    #expect(error(#"[1]"#) == .invalid("a schema must be an object or a boolean", at: "#"))
  }

  @Test func refusesRootsThatAreNotObjects() {
    #expect(error(#"{"type":"array"}"#) == .rootNotObject)
    #expect(error(#"{"type":"string"}"#) == .rootNotObject)
    #expect(error(#"{"enum":[1,2]}"#) == .rootNotObject)
    // A root allowing objects among other things is narrowed to the objects.
    #expect(error(#"{"type":["object","null"]}"#) == nil)
    #expect(error(#"{}"#) == nil)
  }

  @Test func refsResolveLocallyAndRecursionNeedsStructure() {
    #expect(error(##"{"$ref":"#/$defs/missing"}"##) == .unresolvedReference("#/$defs/missing", at: "#"))
    #expect(error(#"{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}"#)
      == .unresolvedReference("https://example.com/s.json", at: "#/properties/a"))
    #expect(error(##"{"type":"object","properties":{"x":{"$ref":"#/$defs/a"}},"$defs":{"a":{"$ref":"#/$defs/a"}}}"##) == .recursiveReference(at: "#/$defs/a"))
    #expect(error(##"{"type":"object","properties":{"x":{"$ref":"#/$defs/a"}},"$defs":{"a":{"anyOf":[{"$ref":"#/$defs/a"},{"type":"null"}]}}}"##)
      == .recursiveReference(at: "#/$defs/a"))
    // Recursion through an object is fine, and so is the legacy "definitions" and "#" itself.
    #expect(error(##"{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#"}}}}"##) == nil)
    #expect(error(##"{"type":"object","properties":{"n":{"$ref":"#/definitions/n"}},"definitions":{"n":{"type":"integer"}}}"##) == nil)
  }

  @Test func refusesReferenceChainsTooDeepToCompile() {
    // Each definition refers to the next: 300 schemas inside one another.
    let defs = (0..<300).map { i in ##""d\##(i)":{"type":"object","properties":{"x":{"$ref":"#/$defs/d\##(i + 1)"}}}"## }
    let schema = ##"{"$ref":"#/$defs/d0","$defs":{"## + defs.joined(separator: ",") + ##","d300":{"type":"null"}}}"##
    guard case .tooLarge = error(schema) else { Issue.record("a 300-deep $ref chain must be refused"); return }
  }

  @Test func refusesSchemasWithNoFiniteValue() {
    #expect(error(#"{"type":"object","properties":{"s":{"type":"string","minLength":5,"maxLength":2}},"required":["s"]}"#) == .unsatisfiable)
    #expect(error(##"{"type":"object","properties":{"child":{"$ref":"#"}},"required":["child"]}"##) == .unsatisfiable)
    #expect(error(#"{"type":"object","properties":{"a":false},"required":["a"]}"#) == .unsatisfiable)
    // Unsatisfiable but optional: fine, the property just never appears.
    #expect(error(##"{"type":"object","properties":{"child":{"$ref":"#"}}}"##) == nil)
  }

  @Test func minimumTokensIsTheShortestDocument() throws {
    #expect(JSONGrammar.anyObject.minimumTokens == 2)
    #expect(try JSONGrammar(schemaJSON: personSchema).minimumTokens == #"{"name":"","age":0,"tags":[]}"#.utf8.count)
    let g = try JSONGrammar(schemaJSON: #"{"type":"object","properties":{"a":{"enum":["long","xy"]},"b":{"type":"string","minLength":3},"c":{"type":"array","minItems":2,"items":{"type":"boolean"}},"d":{"type":"string"}},"required":["a","b","c"]}"#)
    #expect(g.minimumTokens == #"{"a":"xy","b":"aaa","c":[true,true]}"#.utf8.count)
    #expect(try JSONGrammar(schemaJSON: richSchema).minimumTokens
      == #"{"id":0,"score":0,"kind":3,"flag":true,"nick":null,"shape":{"kind":"circle","r":0},"tree":{"v":0},"counts":{},"fixed":{"a":[1,"x"]},"list":[0]}"#.utf8.count)
  }

  @Test func budgetCheckNamesMaxTokens() throws {
    let g = try JSONGrammar(schemaJSON: personSchema)
    #expect(throws: JSONSchemaError.maxTokensTooSmall(needed: g.minimumTokens, given: 5)) { try g.checkBudget(maxTokens: 5) }
    try g.checkBudget(maxTokens: g.minimumTokens)
    #expect(JSONSchemaError.maxTokensTooSmall(needed: 1, given: 0).parameter == "max_tokens")
    #expect(JSONSchemaError.rootNotObject.parameter == "response_format.json_schema.schema")
    #expect(JSONSchemaError.unsupportedKeyword("x", at: "#").description == "unsupported schema keyword 'x' at #")
  }

  @Test func vocabularyMustSpellEveryByteAlone() throws {
    let short = ByteTokenizer(dropping: [UInt8(ascii: "}")])
    #expect(throws: JSONSchemaError.vocabulary("no token spells the single byte 0x7D")) { try JSONConstraint.objectFactory(tokenizer: short) }
    // Bytes outside ASCII matter only when a name or value in the schema uses them.
    let noE9 = ByteTokenizer(dropping: [0xC3])
    _ = try JSONConstraint.objectFactory(tokenizer: noE9)
    #expect(throws: JSONSchemaError.self) {
      try JSONSchemaConstraint.factory(schemaJSON: #"{"type":"object","properties":{"é":{"type":"null"}}}"#, tokenizer: noE9)
    }
  }
}

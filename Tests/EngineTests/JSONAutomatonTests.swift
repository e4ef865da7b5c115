import Foundation
import Testing

@testable import Engine

let personSchema = #"""
{"type":"object","properties":{"name":{"type":"string","maxLength":20},"age":{"type":"integer"},
"tags":{"type":"array","items":{"type":"string"},"maxItems":3}},"required":["name","age","tags"],"additionalProperties":false}
"""#

/// Most of the subset at once: type unions, nullable, enum, const, anyOf over objects that
/// share a prefix, recursion through $ref, maps, bounded arrays and an optional property.
let richSchema = #"""
{"type":"object","properties":{
 "id":{"type":"integer"},
 "score":{"type":["number","null"]},
 "kind":{"enum":["circle","square",3,null]},
 "flag":{"type":"boolean"},
 "nick":{"type":"string","minLength":2,"maxLength":4,"nullable":true},
 "shape":{"anyOf":[{"$ref":"#/$defs/circle"},{"$ref":"#/$defs/square"}]},
 "tree":{"$ref":"#/$defs/node"},
 "counts":{"type":"object","additionalProperties":{"type":"integer"}},
 "fixed":{"const":{"a":[1,"x"]}},
 "list":{"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3},
 "opt":{"type":"string"}},
 "required":["id","score","kind","flag","nick","shape","tree","counts","fixed","list"],
 "additionalProperties":false,
 "$defs":{
  "circle":{"type":"object","properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"],"additionalProperties":false},
  "square":{"type":"object","properties":{"kind":{"const":"square"},"side":{"type":"number"}},"required":["kind","side"],"additionalProperties":false},
  "node":{"type":"object","properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"},"maxItems":2}},
   "required":["v"],"additionalProperties":false}}}
"""#

let richExample = #"{"id":1,"score":null,"kind":"circle","flag":true,"nick":"ab","shape":{"kind":"square","side":2.5},"tree":{"v":1,"kids":[{"v":2},{"v":3,"kids":[]}]},"counts":{"x":1,"y":-2},"fixed":{"a":[1,"x"]},"list":[1,2,3],"opt":"z"}"#

/// Valid objects, for json_object.
let objectAccepts: [String] = [
  "{}",
  #"{"a":1}"#,
  #"{"a":[1,2,{"b":null}],"c":"x\u00e9\ud83d\ude00","d":-1.5e+10,"e":true,"f":false}"#,
  "{ \"a\" : 1 ,\n  \"b\" : [ ] , \"c\":{ }\t}",
  #"{"ключ":"значение 😀","a":0.5E-3,"b":-0,"c":10e5}"#,
  #"{"esc":"\"\\\/\b\f\n\r\t\u0000\uFFFF"}"#,
  #"{"a":[[[]]],"b":[{},{"c":[true,false,null]}]}"#,
]

/// Invalid JSON or not an object: each is refused at some byte or is left incomplete.
let objectRejects: [[UInt8]] = [
  "[]", "\"a\"", "1", " {}", #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":+1}"#, #"{"a":1e}"#, #"{"a":tru}"#,
  #"{"a":1,}"#, "{,}", #"{"a" 1}"#, "{'a':1}", #"{"a":"\x"}"#, #"{"a":"\ud800"}"#, #"{"a":"\udc00"}"#,
  #"{"a":"\ud800\u0041"}"#, "{\"a\":\"\n\"}", #"{"a":1}x"#, #"{"a":1}}"#, #"{"a":NaN}"#, #"{"a":1"#,
  "{" + String(repeating: " ", count: 17) + "}", #"{"a":1234567890123456}"#, #"{"a":1e100}"#, #"{"a":[1 2]}"#,
].map { Array($0.utf8) } + [
  [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xC0, 0x80, 0x22, 0x7D],  // overlong encoding
  [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xED, 0xA0, 0x80, 0x22, 0x7D],  // a surrogate in UTF-8
  [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xE2, 0x82, 0x22, 0x7D],  // a character cut short
  [0x7B, 0x22, 0x61, 0x22, 0x3A, 0x22, 0xF5, 0x80, 0x80, 0x80, 0x22, 0x7D],  // past U+10FFFF
]

@Suite struct JSONAutomatonTests {
  @Test func jsonObjectAcceptsValidObjects() throws {
    for text in objectAccepts {
      #expect(accepts(JSONGrammar.anyObject, text), "\(text)")
      #expect(parseJSON(Array(text.utf8)) != nil, "the corpus itself must be valid: \(text)")
    }
  }

  @Test func jsonObjectRejectsInvalidText() {
    for bytes in objectRejects {
      #expect(!accepts(JSONGrammar.anyObject, bytes), "\(String(decoding: bytes, as: UTF8.self))")
    }
  }

  @Test func completeExactlyAtTheClosingBrace() throws {
    let c = JSONConstraint(grammar: .anyObject, vocabulary: ConstraintVocabulary(tokenizer: ByteTokenizer()))
    let text = Array(#"{"a":{"b":[1]}}"#.utf8)
    for (i, b) in text.enumerated() {
      #expect(!c.isComplete)
      #expect(!c.allows(ByteTokenizer.eos, remaining: .max), "end of generation only after a full document")
      #expect(c.allows(Int(b), remaining: .max), "byte \(i)")
      c.accept(Int(b))
    }
    #expect(c.isComplete)
    #expect(c.allows(ByteTokenizer.eos, remaining: 0))
    #expect(!c.allows(Int(UInt8(ascii: " ")), remaining: .max), "nothing may follow the document")
  }

  @Test func schemaAcceptsConformingDocuments() throws {
    let person = try grammar(personSchema)
    #expect(accepts(person, #"{"name":"Bob","age":42,"tags":["a","b"]}"#))
    #expect(accepts(person, #"{ "name": "Zoë \u00e9", "age": -7, "tags": [] }"#))
    #expect(accepts(try grammar(richSchema), richExample))
  }

  @Test func schemaRejectsViolations() throws {
    let person = try grammar(personSchema)
    let bad = [
      #"{"age":42,"name":"Bob","tags":[]}"#,  // out of schema order
      #"{"name":"Bob","age":42}"#,  // missing a required property
      #"{"name":"Bob","age":42,"tags":[],"x":1}"#,  // additionalProperties false
      #"{"name":"123456789012345678901","age":1,"tags":[]}"#,  // maxLength 20
      #"{"name":"Bob","age":42.5,"tags":[]}"#,  // not an integer
      #"{"name":"Bob","age":1e2,"tags":[]}"#,
      #"{"name":"Bob","age":1,"tags":["a","b","c","d"]}"#,  // maxItems 3
      #"{"name":"Bob","age":1,"tags":[1]}"#,  // item type
      #"{"name":null,"age":1,"tags":[]}"#,
    ]
    for text in bad { #expect(!accepts(person, text), "\(text)") }

    let rich = try grammar(richSchema)
    let replacements = [
      (#""kind":"circle""#, #""kind":"triangle""#), (#""nick":"ab""#, #""nick":"a""#), (#""nick":"ab""#, #""nick":"abcde""#),
      (#"{"kind":"square","side":2.5}"#, #"{"kind":"circle","side":2.5}"#), (#""list":[1,2,3]"#, #""list":[]"#),
      (#""list":[1,2,3]"#, #""list":[1,2,3,4]"#), (#"{"v":3,"kids":[]}"#, #"{"v":3,"kids":[{"v":4},{"v":5},{"v":6}]}"#),
      (#""y":-2"#, #""y":1.5"#), (#""a":[1,"x"]"#, #""a":[1,"y"]"#), (#""score":null"#, #""score":"1""#),
      (#""flag":true"#, #""flag":1"#), (#""id":1"#, #""id":1.5"#), (#""opt":"z""#, #""opt":"z","zzz":1"#),
      (#""kind":"circle""#, #""kind":3.0"#),
    ]
    for (from, to) in replacements {
      let text = richExample.replacingOccurrences(of: from, with: to)
      #expect(text != richExample)
      #expect(!accepts(rich, text), "\(to)")
    }
    // The alternatives the schema allows are all accepted.
    for (from, to) in [(#""kind":"circle""#, #""kind":3"#), (#""kind":"circle""#, #""kind":null"#), (#""score":null"#, #""score":-0.25"#),
                       (#""nick":"ab""#, #""nick":null"#), (#","opt":"z""#, ""), (#""counts":{"x":1,"y":-2}"#, #""counts":{}"#)] {
      #expect(accepts(rich, richExample.replacingOccurrences(of: from, with: to)), "\(to)")
    }
  }

  @Test func optionalPropertiesMayBeSkippedButNotReordered() throws {
    let g = try grammar(#"{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["c"],"additionalProperties":false}"#)
    for ok in [#"{"c":1}"#, #"{"a":1,"c":1}"#, #"{"b":1,"c":1}"#, #"{"a":1,"b":2,"c":3}"#] { #expect(accepts(g, ok), "\(ok)") }
    for bad in [#"{"b":1,"a":1,"c":1}"#, #"{"c":1,"a":1}"#, #"{"a":1,"a":2,"c":1}"#, #"{"a":1}"#] { #expect(!accepts(g, bad), "\(bad)") }
  }

  @Test func additionalPropertiesBesideDeclaredOnes() throws {
    // Free-form names may not reuse a declared name (its value would have to match that schema).
    let g = try grammar(#"{"type":"object","properties":{"name":{"type":"string"}},"additionalProperties":{"type":"integer"}}"#)
    for ok in [#"{"name":"x","n":1}"#, #"{"names":2,"name":"x"}"#, #"{"nam":1}"#, #"{"":3}"#] { #expect(accepts(g, ok), "\(ok)") }
    for bad in [#"{"name":1}"#, #"{"name":"x","name":"y"}"#, #"{"n":"x"}"#, #"{"n\u0061me":1}"#] { #expect(!accepts(g, bad), "\(bad)") }
  }

  @Test func stringLengthCountsCharactersNotBytes() throws {
    let g = try grammar(#"{"type":"object","properties":{"s":{"type":"string","minLength":2,"maxLength":3}},"required":["s"]}"#)
    for ok in [#"{"s":"éé"}"#, #"{"s":"😀😀😀"}"#, #"{"s":"\ud83d\ude00\n"}"#, #"{"s":"ab"}"#] { #expect(accepts(g, ok), "\(ok)") }
    for bad in [#"{"s":"é"}"#, #"{"s":"abcd"}"#, #"{"s":"\u00e9"}"#] { #expect(!accepts(g, bad), "\(bad)") }
  }

  /// From every prefix of a valid document, the bytes that each lower the shortest completion
  /// by one close it in exactly that many bytes, and the result is valid: the cost the budget
  /// check relies on is never optimistic and never strands the output.
  @Test(arguments: [("object", ""), ("person", personSchema), ("rich", richSchema)])
  func shortestCompletionIsExactAndValid(_ name: String, _ schema: String) throws {
    let g = schema.isEmpty ? JSONGrammar.anyObject : try grammar(schema)
    let checker = try SchemaChecker(schema.isEmpty ? #"{"type":"object"}"# : schema)
    let docs = schema == richSchema ? [richExample] : schema == personSchema ? [#"{"name":"Bo\u00e9","age":42,"tags":["a"]}"#] : objectAccepts
    let vocabulary = ConstraintVocabulary(tokenizer: ByteTokenizer())
    for doc in docs {
      let bytes = Array(doc.utf8)
      for cut in 0...bytes.count {
        let c = JSONConstraint(grammar: g, vocabulary: vocabulary)
        guard feed(c, Array(bytes[..<cut])) != nil else { Issue.record("\(name): prefix \(cut) refused"); break }
        let need = c.bytesToClose
        var out = Array(bytes[..<cut])
        while !c.isComplete {
          let goal = c.bytesToClose - 1
          guard let b = (0...255).first(where: { c.allows($0, remaining: goal) }) else {
            Issue.record("\(name): stuck after \(String(decoding: out, as: UTF8.self))")
            break
          }
          c.accept(b)
          out.append(UInt8(b))
        }
        #expect(out.count - cut == need, "\(name) prefix \(cut): closed in \(out.count - cut) bytes, cost said \(need)")
        guard let v = parseJSON(out) else { Issue.record("\(name): not JSON: \(String(decoding: out, as: UTF8.self))"); continue }
        #expect(checker.errors(v).isEmpty, "\(name): \(checker.errors(v)) in \(String(decoding: out, as: UTF8.self))")
      }
    }
  }

  @Test func whitespaceIsBoundedPerGap() throws {
    let g = JSONGrammar.anyObject
    #expect(accepts(g, "{" + String(repeating: " ", count: 16) + "}"))
    #expect(!accepts(g, "{" + String(repeating: " ", count: 17) + "}"))
    #expect(accepts(g, "{\"a\":" + String(repeating: "\n", count: 16) + "1" + String(repeating: " ", count: 16) + "}"))
  }

  @Test func freeFormNestingIsCapped() throws {
    let deep = String(repeating: "[", count: 40)
    let c = JSONConstraint(grammar: .anyObject, vocabulary: ConstraintVocabulary(tokenizer: ByteTokenizer()))
    #expect(feed(c, Array(("{\"a\":" + deep).utf8)) == nil, "json_object nesting stops at 32 levels")
    #expect(accepts(.anyObject, "{\"a\":" + String(repeating: "[", count: 30) + String(repeating: "]", count: 30) + "}"))
  }
}

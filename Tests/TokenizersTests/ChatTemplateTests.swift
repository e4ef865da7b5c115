import Foundation
import GGUF
import Testing

@testable import Tokenizers

/// Chat templates rendered byte for byte as llama-server (the reference files) and Python Jinja2
/// (the fixtures from scripts/tokenizer-fixtures) render them.
@Suite struct ChatTemplateTests {
  @Test(arguments: ["smollm2", "qwen2"])
  func referenceRenders(_ model: String) throws {
    let ref = try ReferenceFile.load(model)
    let template = try #require(try ChatTemplate.load(from: ModelCache.shared.file(model)))
    let raw = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Paths.reference + "/\(model).json")))
    let chats = try #require((raw as? [String: Any])?["chat_template"] as? [[String: Any]])
    #expect(chats.count == ref.chat_template.count && !chats.isEmpty)
    for (c, r) in zip(chats, ref.chat_template) {
      let messages = try #require(JinjaValue(any: c["messages"]))
      guard case .array(let list) = messages else { Issue.record("messages is not a list"); continue }
      let out = try template.render(messages: list, addGenerationPrompt: r.add_generation_prompt)
      #expect(out == r.rendered)
    }
  }

  @Test func gemmaFallsBackToBuiltin() throws {
    let file = try ModelCache.shared.file("gemma3")
    #expect(file.metadata["tokenizer.chat_template"] == nil)
    let t = try #require(try ChatTemplate.load(from: file))
    let out = try t.render(messages: [.object(["role": .string("user"), "content": .string("Hi")])], bosToken: "<bos>")
    #expect(out == "<bos><start_of_turn>user\nHi<end_of_turn>\n<start_of_turn>model\n")
  }

  struct Fixture {
    let template: String, note: String, context: [String: JinjaValue]
    let expected: String?, error: String?, message: String?
  }

  static func fixtures() throws -> (cases: [Fixture], inline: [String: String]) {
    let text = try String(contentsOf: Paths.fixtures.appendingPathComponent("chat_templates.json"), encoding: .utf8)
    let doc = try JinjaValue(json: text)
    var inline: [String: String] = [:]
    if case .object(let o)? = doc["inline_templates"] {
      for (k, v) in o.pairs { if case .string(let s) = v { inline[k] = s } }
    }
    guard case .array(let list)? = doc["cases"] else { throw JinjaError.invalidJSON("no cases") }
    var cases: [Fixture] = []
    for c in list {
      guard case .string(let t)? = c["template"], case .object(let ctx)? = c["context"] else { continue }
      var context: [String: JinjaValue] = [:]
      for (k, v) in ctx.pairs { context[k] = v }
      func str(_ k: String) -> String? { if case .string(let s)? = c[k] { return s } else { return nil } }
      cases.append(Fixture(template: t, note: str("note") ?? "", context: context, expected: str("expected"), error: str("error"), message: str("message")))
    }
    return (cases, inline)
  }

  func template(_ name: String, inline: [String: String]) throws -> ChatTemplate {
    let parts = name.split(separator: ":", maxSplits: 1).map(String.init)
    switch parts[0] {
    case "gguf": return try #require(try ChatTemplate.load(from: ModelCache.shared.file(parts[1])))
    case "builtin": return try #require(ChatTemplate.builtin(named: parts[1]))
    default: return try ChatTemplate(try #require(inline[parts[1]]))
    }
  }

  @Test func matchesPythonJinja2() throws {
    let (cases, inline) = try Self.fixtures()
    #expect(cases.count >= 40)
    for c in cases {
      let t = try template(c.template, inline: inline)
      let label = "\(c.template) — \(c.note)"
      do {
        let out = try t.render(context: c.context, today: (2026, 11, 26))
        if let expected = c.expected {
          #expect(out == expected, "\(label)")
        } else {
          Issue.record("\(label): rendered, expected a \(c.error ?? "?") error: \(out.prefix(200))")
        }
      } catch {
        switch (c.error, error) {
        case ("raised", .raised(let m)): #expect(m == c.message, "\(label)")
        case ("undefined", .undefined): break
        case ("type", .typeError): break
        default: Issue.record("\(label): \(error), fixture expects \(c.error ?? "output")")
        }
      }
    }
  }
}

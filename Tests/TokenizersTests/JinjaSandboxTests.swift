import Foundation
import Testing

@testable import Tokenizers

/// The template sandbox: no internals, bounded loops, depth and output, typed errors throughout.
@Suite struct JinjaSandboxTests {
  func render(_ source: String, _ context: [String: JinjaValue] = [:], limits: JinjaLimits = JinjaLimits()) throws(JinjaError) -> String {
    try ChatTemplate(source).render(context: context, limits: limits)
  }

  func expectError(_ source: String, context: [String: JinjaValue] = [:], limits: JinjaLimits = JinjaLimits(),
    _ matches: (JinjaError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      let out = try render(source, context, limits: limits)
      Issue.record("rendered \(out.prefix(80).debugDescription) instead of failing", sourceLocation: sourceLocation)
    } catch {
      #expect(matches(error), "\(error)", sourceLocation: sourceLocation)
    }
  }

  @Test func internalsAreUnreachable() {
    func unsafe(_ e: JinjaError) -> Bool { if case .unsafeAccess = e { return true } else { return false } }
    expectError("{{ ''.__class__ }}", unsafe)
    expectError("{{ ''.__class__.__mro__[1].__subclasses__() }}", unsafe)
    expectError("{{ messages.__len__() }}", context: ["messages": .array([])], unsafe)
    expectError("{{ m['__dict__'] }}", context: ["m": .object(["a": .int(1)])], unsafe)
    expectError("{{ cycler.__init__.__globals__ }}", { if case .undefined = $0 { return true } else { return unsafe($0) } })
    expectError("{% set ns = namespace() %}{% set ns._x = 1 %}", unsafe)
    // Data cannot be modified in place (transformers uses an immutable sandbox too).
    expectError("{{ messages.append(1) }}", context: ["messages": .array([])], unsafe)
    expectError("{{ m.update({'a': 2}) }}", context: ["m": .object(["a": .int(1)])], unsafe)
  }

  @Test func loopsAreBounded() {
    func loops(_ e: JinjaError) -> Bool { if case .loopLimitExceeded = e { return true } else { return false } }
    let small = JinjaLimits(maxLoopIterations: 10_000)
    expectError("{% for i in range(1000000000) %}{% endfor %}", limits: small, loops)
    expectError("{% for a in range(100) %}{% for b in range(100) %}{% for c in range(100) %}x{% endfor %}{% endfor %}{% endfor %}", limits: small, loops)
    expectError("{{ ([1] * 100000)|length }}", limits: small, loops)
    // Within bounds the same constructs run.
    #expect((try? render("{% for i in range(3) %}{{ i }}{% endfor %}", limits: small)) == "012")
  }

  @Test func outputIsBounded() {
    func output(_ e: JinjaError) -> Bool { if case .outputLimitExceeded = e { return true } else { return false } }
    let small = JinjaLimits(maxOutputBytes: 1 << 16)
    expectError("{{ 'x' * 100000000 }}", limits: small, output)
    expectError("{% for i in range(100000) %}0123456789{% endfor %}", limits: small, output)
    // Doubling a string in a loop stops at the limit instead of allocating gigabytes.
    expectError("{% set ns = namespace(s='ab') %}{% for i in range(40) %}{% set ns.s = ns.s + ns.s %}{% endfor %}", limits: JinjaLimits(maxOutputBytes: 1 << 20), output)
  }

  @Test func recursionIsBounded() {
    func deep(_ e: JinjaError) -> Bool { if case .recursionLimitExceeded = e { return true } else { return false } }
    expectError("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}", deep)
    expectError("{{ " + String(repeating: "(", count: 5000) + "1" + String(repeating: ")", count: 5000) + " }}", deep)
    expectError(String(repeating: "{% if true %}", count: 5000), deep)
  }

  @Test func typedErrors() {
    expectError("{{ raise_exception('nope') }}", { $0 == .raised("nope") })
    expectError("{% include 'other.jinja' %}", { if case .unsupported = $0 { return true } else { return false } })
    expectError("{% if true %}unclosed", { if case .syntax = $0 { return true } else { return false } })
    expectError("{{ 1 + }}", { if case .syntax = $0 { return true } else { return false } })
    expectError("{{ x.y }}", { if case .undefined = $0 { return true } else { return false } })
    expectError("{{ x + 1 }}", { if case .undefined = $0 { return true } else { return false } })
    expectError("{{ 'a' + 1 }}", { if case .typeError = $0 { return true } else { return false } })
    expectError("{{ 1 / 0 }}", { if case .typeError = $0 { return true } else { return false } })
    expectError("{{ 9223372036854775807 + 1 }}", { if case .typeError = $0 { return true } else { return false } })
    expectError("{{ x|nosuchfilter }}", { if case .unsupported = $0 { return true } else { return false } })
    expectError("{{ undefined_var|tojson }}", { if case .undefined = $0 { return true } else { return false } })
  }

  @Test func undefinedIsLenient() throws {
    #expect(try render("[{{ nothing }}][{{ nothing|length }}][{{ nothing|default('d') }}][{% for x in nothing %}x{% endfor %}]") == "[][0][d][]")
    #expect(try render("{{ m.missing is defined }} {{ m.content.content is defined }}", ["m": .object(["content": .string("s")])]) == "False False")
  }

  @Test func jsonValues() throws {
    let v = try JinjaValue(json: #"{"z": 1, "a": [true, null, 2.5, "é\n\u00e9\ud83e\udd99"], "m": {}}"#)
    guard case .object(let o) = v else { Issue.record("not an object"); return }
    #expect(o.keys == ["z", "a", "m"])
    #expect(v["a"] == .array([.bool(true), .null, .double(2.5), .string("é\né🦙")]))
    #expect(v.description == #"{"z": 1, "a": [true, null, 2.5, "é\né🦙"], "m": {}}"#)
    #expect(throws: JinjaError.self) { try JinjaValue(json: "{\"a\": }") }
    #expect(throws: JinjaError.self) { try JinjaValue(json: String(repeating: "[", count: 10_000)) }
    #expect(JinjaValue(any: ["b": 1, "a": [true, "x", 2.5, NSNull()]] as [String: Any]) ==
      .object(["a": .array([.bool(true), .string("x"), .double(2.5), .null]), "b": .int(1)]))
  }

  @Test func builtinsParse() throws {
    for name in ["gemma3", "llama3", "mistral"] { #expect(ChatTemplate.builtin(named: name) != nil) }
    #expect(ChatTemplate.builtin(named: "nope") == nil)
    #expect(ChatTemplate.builtin(architecture: "gemma3") != nil && ChatTemplate.builtin(architecture: "llama") == nil)
  }
}

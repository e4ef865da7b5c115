import Foundation
import GGUF

/// A model's chat template: Jinja source parsed once, rendered per request in a sandbox.
///
/// Rendering follows what transformers' `apply_chat_template` and llama-server's `--jinja` do:
/// `trim_blocks` and `lstrip_blocks` on, `tojson` as `json.dumps(ensure_ascii=False)`,
/// `raise_exception` and `namespace` available, undefined values printing as nothing.
public struct ChatTemplate: Sendable {
  public let source: String
  private let program: Program

  /// Parsed statements; immutable once built, so sharing across threads is safe.
  private final class Program: @unchecked Sendable {
    let body: [Stmt]
    init(_ body: [Stmt]) { self.body = body }
  }

  public init(_ source: String) throws(JinjaError) {
    self.source = source
    program = Program(try JinjaParser.parse(source))
  }

  /// Renders with an arbitrary context. `today` feeds `strftime_now` (default: the current UTC date).
  public func render(
    context: [String: JinjaValue], limits: JinjaLimits = JinjaLimits(), today: (year: Int, month: Int, day: Int)? = nil
  ) throws(JinjaError) -> String {
    let fixed = today
    let now: @Sendable () -> (year: Int, month: Int, day: Int) = {
      if let fixed { return fixed }
      var cal = Calendar(identifier: .gregorian)
      cal.timeZone = TimeZone(identifier: "UTC")!
      let c = cal.dateComponents([.year, .month, .day], from: Date())
      return (c.year ?? 1970, c.month ?? 1, c.day ?? 1)
    }
    let renderer = JinjaRenderer(context: context.mapValues(Value.init), limits: limits, now: now)
    return try renderer.render(program.body)
  }

  /// The usual chat context: `messages`, `add_generation_prompt`, `tools` (only when given, so
  /// `tools is defined` stays meaningful), `bos_token`/`eos_token`, plus any extra variables.
  public func render(
    messages: [JinjaValue], addGenerationPrompt: Bool = true, tools: [JinjaValue]? = nil,
    bosToken: String = "", eosToken: String = "", extra: [String: JinjaValue] = [:], limits: JinjaLimits = JinjaLimits()
  ) throws(JinjaError) -> String {
    var ctx = extra
    ctx["messages"] = .array(messages)
    ctx["add_generation_prompt"] = .bool(addGenerationPrompt)
    ctx["bos_token"] = .string(bosToken)
    ctx["eos_token"] = .string(eosToken)
    if let tools { ctx["tools"] = .array(tools) }
    return try render(context: ctx, limits: limits)
  }

  /// Built-in templates by name: `gemma3`, `llama3` (3.1 format), `mistral` (v0.3 [INST] format).
  public static func builtin(named name: String) -> ChatTemplate? {
    let source: String
    switch name {
    case "gemma3", "gemma", "gemma2": source = BuiltinTemplates.gemma3
    case "llama3", "llama3.1": source = BuiltinTemplates.llama3
    case "mistral": source = BuiltinTemplates.mistral
    default: return nil
    }
    return try? ChatTemplate(source)
  }

  /// Fallback for GGUF files without `tokenizer.chat_template`, keyed by `general.architecture`.
  /// Only architectures with one unambiguous format qualify (plain `llama` covers many).
  public static func builtin(architecture: String) -> ChatTemplate? {
    switch architecture {
    case "gemma3", "gemma3n", "gemma2", "gemma": return builtin(named: "gemma3")
    default: return nil
    }
  }

  /// The file's own template, or the architecture's built-in one; nil when there is neither.
  public static func load(from file: GGUFFile) throws(JinjaError) -> ChatTemplate? {
    if let v = file.metadata["tokenizer.chat_template"] {
      guard let s = v.string else { throw .typeError("tokenizer.chat_template is not a string") }
      return try ChatTemplate(s)
    }
    return file.architecture.flatMap { builtin(architecture: $0) }
  }
}

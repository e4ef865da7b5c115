import ArgumentParser
import Foundation

@main
struct Hearth: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "hearth",
    abstract: "A private LLM platform: a native GGUF inference engine and an OpenAI-compatible server.",
    subcommands: [Serve.self, Run.self, Generate.self, Tokenize.self, ChatTemplateCommand.self, Inspect.self, Score.self, Bench.self, Plan.self, Embed.self, Convert.self,
                  KeysCommand.self, TenantsCommand.self, UsersCommand.self, AuditCommand.self,
                  ModelCommand.self, QuantizeCommand.self, EvalCommand.self, PruneCommand.self,
                  DeployCommand.self, PromoteCommand.self, RollbackCommand.self, DeploymentsCommand.self, ABCommand.self])
}

/// Prints one line naming the problem and exits with `code` (2 for a bad model file or path).
func fail(_ message: String, code: Int32 = 2) -> Never {
  FileHandle.standardError.write(Data("hearth: error: \(message)\n".utf8))
  exit(code)
}

import ArgumentParser
import Engine
import Foundation
import Kernels

/// Engine settings shared by the commands that run a model.
struct EngineOptions: ParsableArguments {
  @Option(help: "Threads for the forward pass (default: all cores).") var threads: Int?
  @Flag(help: "Exact mode: f32 activations and reference kernels (slow; for checking results).") var exact = false
  @Option(help: "KV cache size in tokens.") var ctx: Int = 4096
  @Option(name: .customLong("kv-cache-type"), help: "Keys and values in the KV cache: f16 or f32 (default: f16; f32 with --exact).")
  var kvCacheType: KVPrecision?

  var threadCount: Int { threads ?? ProcessInfo.processInfo.activeProcessorCount }
  var mode: KernelMode { exact ? .exact : .fast }

  func validate() throws {
    if let t = threads, !(1...256).contains(t) { throw ValidationError("--threads must be between 1 and 256") }
    if ctx < 16 { throw ValidationError("--ctx must be at least 16") }
  }

  func schedulerConfig(for model: LoadedModel, sequences: Int = 1) -> Scheduler.Config {
    var c = Scheduler.Config()
    c.threads = threadCount
    c.mode = mode
    c.kvPrecision = kvCacheType
    c.kvTokens = min(ctx, model.config.contextLength)
    c.maxSequences = sequences
    c.maxBatchTokens = 256
    return c
  }
}

extension KVPrecision: ExpressibleByArgument {}

/// Sampling settings shared by `run` and `generate`.
struct SamplingOptions: ParsableArguments {
  @Option(help: "Temperature; 0 is greedy.") var temperature: Double = 0.8
  @Option(name: .customLong("top-k"), help: "Keep the k most likely tokens (0: off).") var topK: Int = 40
  @Option(name: .customLong("top-p"), help: "Nucleus sampling threshold (1: off).") var topP: Double = 0.95
  @Option(name: .customLong("min-p"), help: "Drop tokens below min-p x the best one's probability (0: off).") var minP: Double = 0.05
  @Option(name: .customLong("repeat-penalty"), help: "Repetition penalty (1: off).") var repeatPenalty: Double = 1.0
  @Option(name: .customLong("presence-penalty"), parsing: .unconditional, help: "Subtracted once from a seen token's logit, as OpenAI's (-2 to 2; 0: off).")
  var presencePenalty: Double = 0
  @Option(name: .customLong("frequency-penalty"), parsing: .unconditional, help: "Subtracted per occurrence, as OpenAI's (-2 to 2; 0: off).")
  var frequencyPenalty: Double = 0
  @Option(help: "Random seed, for reproducible sampling.") var seed: UInt64?

  func validate() throws {
    if temperature < 0 || temperature > 100 { throw ValidationError("--temperature must be between 0 and 100") }
    if topK < 0 { throw ValidationError("--top-k must be 0 or more") }
    if !(topP > 0 && topP <= 1) { throw ValidationError("--top-p must be in (0, 1]") }
    if !(0...1).contains(minP) { throw ValidationError("--min-p must be in [0, 1]") }
    if repeatPenalty <= 0 { throw ValidationError("--repeat-penalty must be positive") }
    if !(-2...2).contains(presencePenalty) { throw ValidationError("--presence-penalty must be between -2 and 2") }
    if !(-2...2).contains(frequencyPenalty) { throw ValidationError("--frequency-penalty must be between -2 and 2") }
  }

  var params: SamplingParams {
    var p = SamplingParams()
    p.temperature = temperature
    p.topK = topK
    p.topP = topP
    p.minP = minP
    p.repetitionPenalty = repeatPenalty
    p.presencePenalty = presencePenalty
    p.frequencyPenalty = frequencyPenalty
    p.seed = seed
    return p
  }
}

/// Loads a model or exits with one line naming the problem (exit code 2).
func loadModel(_ path: String) -> LoadedModel {
  do { return try LoadedModel(path: path) } catch { fail(error.description) }
}

/// Writes text to stdout at once (streaming output must not sit in a buffer).
func emit(_ text: String) {
  guard !text.isEmpty else { return }
  FileHandle.standardOutput.write(Data(text.utf8))
}

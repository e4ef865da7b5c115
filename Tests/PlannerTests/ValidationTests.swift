import Foundation
import Testing

@testable import Planner

/// Bad input gets one clear line naming the field.
@Suite struct ValidationTests {
  let h100 = try! Catalog().find("h100-80gb", field: "--gpu")

  func message(_ r: PlanRequest) -> String {
    do { _ = try Planner.plan(r); return "" } catch { return error.description }
  }

  func request(context: Int = 4096, concurrency: Int = 1) -> PlanRequest {
    PlanRequest(model: Presets.named("llama-2-70b")!, weights: .f16, context: context, concurrency: concurrency, hardware: h100)
  }

  @Test func contextAboveTheModelsMaximum() {
    #expect(message(request(context: 8192)) == "--context 8192 is above llama-2-70b's maximum context of 4096 tokens")
  }

  @Test(arguments: [0, -5])
  func zeroOrNegativeCounts(_ n: Int) {
    #expect(message(request(context: n)).hasPrefix("--context must be a positive number of tokens"))
    #expect(message(request(concurrency: n)).hasPrefix("--concurrency must be a positive number of sequences"))
    var r = request()
    r.outputTokens = n
    #expect(message(r).hasPrefix("--output-tokens"))
    r = request()
    r.promptTokens = n
    #expect(message(r).hasPrefix("--prompt-tokens"))
  }

  @Test func promptAndOutputMustFitTheContext() {
    var r = request(context: 1000)
    r.promptTokens = 900
    r.outputTokens = 200
    #expect(message(r) == "--prompt-tokens 900 plus --output-tokens 200 exceeds --context 1000")
  }

  @Test func negativePricesAndTargets() {
    var r = request()
    r.pricePerHour = -1
    #expect(message(r).hasPrefix("--price-per-hour must be a positive number"))
    r = request()
    r.targets.p99Seconds = 0
    #expect(message(r).hasPrefix("--target-p99"))
    r = request()
    r.qps = .nan
    #expect(message(r).hasPrefix("--qps"))
    r = request()
    r.memoryUtilization = 1.5
    #expect(message(r).hasPrefix("--memory-utilization"))
  }

  @Test func presetWithoutWeightFormat() {
    var r = request()
    r.weights = nil
    #expect(message(r).hasPrefix("--weights is required for a preset"))
  }

  @Test func unknownPresetSuggestsCloseNames() {
    let e = PlannerError.unknownPreset("llama-2-70", suggestions: Names.closest(to: "llama-2-70", in: Presets.all.map(\.name)))
    #expect(e.description.contains("did you mean 'llama-2-70b'"))
    #expect(Names.closest(to: "Qwen2.5-7B-Instruct", in: Presets.all.map(\.name)).first == "qwen2.5-7b")
    #expect(Names.closest(to: "mixtral", in: Presets.all.map(\.name)).contains("mixtral-8x7b"))
    #expect(Names.closest(to: "zzzzzzzzzzzzzzzzzz", in: Presets.all.map(\.name)).isEmpty)
  }

  @Test func namesAreCaseInsensitive() throws {
    #expect(Presets.named("Llama-2-70B")?.name == "llama-2-70b")
    #expect(Presets.named("GEMMA_3_27B")?.name == "gemma-3-27b")
    #expect(try Catalog().find("H100-80GB", field: "--gpu").name == "h100-80gb")
    #expect(try Catalog().find("h100", field: "--gpu").name == "h100-80gb")
    #expect(WeightFormat(name: "q4_k_m") == .q4_K && WeightFormat(name: "gptq") == .int4 && WeightFormat(name: "bf16") == .bf16)
    #expect(KVCacheType(name: "q8_0") == .q8_0 && KVCacheType(name: "Q4") == nil)
  }

  @Test func unknownGPUSuggests() {
    do {
      _ = try Catalog().find("h10-80gb", field: "--gpu", kind: .gpu)
      Issue.record("found a GPU that isn't there")
    } catch {
      #expect(error.description.hasPrefix("--gpu: unknown hardware 'h10-80gb'; did you mean 'h100-80gb'"))
    }
    // A CPU name is not a GPU.
    do {
      _ = try Catalog().find("epyc-9654", field: "--gpu", kind: .gpu)
      Issue.record("a CPU passed as a GPU")
    } catch {
      #expect(error.description == "--gpu 'epyc-9654' is a CPU: use --cpu epyc-9654")
    }
  }
}

import Foundation
import Testing

@testable import Planner

@Suite struct PlacementTests {
  func preset(_ name: String) -> ModelSpec { Presets.named(name)! }
  func hw(_ name: String) -> Hardware { try! Catalog().find(name, field: "--gpu") }

  /// TP must split the heads evenly: Qwen2.5-7B has 28 heads and 4 KV heads, so TP 8 is out.
  @Test func tensorParallelDividesHeads() {
    let tps = Set(Planner.candidateLayouts(for: preset("qwen2.5-7b"), on: hw("h100-80gb")).map(\.tensorParallel))
    #expect(tps == [1, 2, 4])
    // 64 heads / 8 KV heads: every power of two up to 8.
    #expect(Set(Planner.candidateLayouts(for: preset("llama-2-70b"), on: hw("h100-80gb")).map(\.tensorParallel)) == [1, 2, 4, 8])
    // A CPU is one device.
    let cpu = try! Catalog().find("epyc-9654", field: "--cpu")
    #expect(Planner.candidateLayouts(for: preset("llama-2-70b"), on: cpu) == [Layout()])
  }

  /// With more devices than KV heads each device keeps a whole copy of its KV head (vLLM replicates).
  @Test func kvHeadsReplicateBeyondTheirCount() {
    let m = preset("gemma-3-1b")  // 4 heads, 1 KV head
    #expect(Layout.isValid(tensorParallel: 4, for: m))
    #expect(Layout(tensorParallel: 4).kvShare(m) == 1)
    #expect(Layout(tensorParallel: 4).kvShare(preset("llama-2-70b")) == 0.25)
  }

  /// Layouts are tried smallest first; the chosen one fits and the one before it doesn't.
  @Test func smallestLayoutThatFits() throws {
    let r = PlanRequest(model: preset("llama-3.1-70b"), weights: .bf16, context: 32768, concurrency: 64, hardware: hw("h100-80gb"))
    let plan = try Planner.plan(r)
    #expect(plan.maxConcurrency >= 64)
    let w = try r.model.weights(.bf16)
    let smaller = Planner.candidateLayouts(for: r.model, on: r.hardware).filter { $0.devices < plan.devices }
    for l in smaller {
      let mem = DeviceMemory(model: r.model, weights: w, kv: .f16, context: 32768, hardware: r.hardware, layout: l, utilization: 0.9)
      #expect(mem.maxConcurrency < 64, "\(l)")
    }
    // Asking for one more sequence than fits moves to a bigger layout or fails naming --concurrency.
    var more = r
    more.concurrency = plan.maxConcurrency + 1
    if let bigger = try? Planner.plan(more) { #expect(bigger.devices > plan.devices) }
  }

  /// One node first: Llama 2 70B in F16 (128 GiB) fits eight 24 GB L4s with TP 8. Past one node the
  /// planner adds whole-node pipeline stages: Mixtral 8x22B in F16 (262 GiB) needs two nodes of L4s.
  @Test func pipelineStagesBeyondANode() throws {
    let one = try Planner.plan(PlanRequest(model: preset("llama-2-70b"), weights: .f16, context: 4096, hardware: hw("l4")))
    #expect(one.layout == Layout(tensorParallel: 8, pipelineParallel: 1))
    let plan = try Planner.plan(PlanRequest(model: preset("mixtral-8x22b"), weights: .f16, context: 4096, hardware: hw("l4")))
    #expect(plan.layout == Layout(tensorParallel: 8, pipelineParallel: 2))
    #expect(plan.kubernetes.contains("one pod per node"))
    #expect(plan.decodeStep.communicationSeconds > one.decodeStep.communicationSeconds * 0.5)
  }

  /// A forced TP degree spreads one replica wider: prefill speeds up about in proportion.
  @Test func forcedTensorParallel() throws {
    var r = PlanRequest(model: preset("llama-3.1-70b"), weights: .fp8, context: 16384, concurrency: 8, hardware: hw("h100-80gb"))
    let base = try Planner.plan(r)
    r.tensorParallel = 8
    let wide = try Planner.plan(r)
    #expect(base.layout.tensorParallel == 2 && wide.layout.tensorParallel == 8)
    #expect(wide.prefillTokensPerS > 2.5 * base.prefillTokensPerS)  // 4× the GPUs, less the all-reduces
    r.tensorParallel = 3
    #expect(throws: PlannerError.self) { try Planner.plan(r) }
    var q = PlanRequest(model: preset("qwen2.5-7b"), weights: .bf16, context: 4096, hardware: hw("h100-80gb"), tensorParallel: 8)
    do { _ = try Planner.plan(q); Issue.record("TP 8 split 28 heads") } catch {
      #expect(error.description.hasPrefix("--tensor-parallel 8 does not split qwen2.5-7b's 28 heads"))
    }
    q.tensorParallel = 4
    #expect(try Planner.plan(q).devices == 4)
  }

  @Test func concurrencyBeyondEveryLayoutNamesTheField() {
    let r = PlanRequest(model: preset("llama-3.1-8b"), weights: .bf16, context: 131_072, concurrency: 100_000, hardware: hw("l4"))
    #expect(throws: PlannerError.self) { try Planner.plan(r) }
    do { _ = try Planner.plan(r) } catch { #expect(error.description.hasPrefix("--concurrency 100000: at most")) }
  }

  @Test func modelTooBigForACPU() {
    var cpu = try! Catalog().find("epyc-9654", field: "--cpu")
    cpu.memoryGiB = 64
    do {
      _ = try Planner.plan(PlanRequest(model: preset("llama-2-70b"), weights: .f16, context: 4096, hardware: cpu))
      Issue.record("a 128 GiB model fitted 64 GiB")
    } catch {
      #expect(error.description.hasPrefix("--cpu epyc-9654: llama-2-70b"))
    }
  }

  /// A MoE decode step reads only the experts its tokens route to: 2 of 8 for one token, nearly all
  /// for 32 tokens (1 − (6/8)^32).
  @Test func moeDecodeReadsTouchedExperts() throws {
    let m = preset("mixtral-8x7b")
    let w = try m.weights(.f16)
    let one = w.decodeBytes(m, batch: 1)
    #expect(abs(one - (w.dense.bytes + w.output.bytes + w.experts.bytes * 0.25)) < 1)
    #expect(w.decodeBytes(m, batch: 32) > w.dense.bytes + w.output.bytes + w.experts.bytes * 0.99)
  }

  /// Decode slows as the context grows (more KV to read), and batching raises total throughput.
  @Test func decodeScalesWithContextAndBatch() throws {
    let m = preset("llama-3.1-8b")
    let roof = Roofline(model: m, weights: try m.weights(.bf16), hardware: hw("h100-80gb"), precision: .fp16, kv: .f16)
    let short = roof.decodeStep(batch: 1, context: 1024).seconds
    let long = roof.decodeStep(batch: 1, context: 65536).seconds
    #expect(long > short)
    let batch = roof.decodeStep(batch: 32, context: 1024).seconds
    #expect(32 / batch > 10 / short)
  }

  /// TTFT is the prefill time of the prompt; the request latency adds every output token's step.
  @Test func ttftAndLatency() throws {
    let plan = try Planner.plan(PlanRequest(model: preset("llama-3.1-8b"), weights: .bf16, context: 16384, concurrency: 8,
                                            hardware: hw("h100-80gb"), promptTokens: 12000, outputTokens: 500))
    #expect(abs(plan.ttftS - 12000 / plan.prefillTokensPerS) < 1e-9)
    #expect(abs(plan.requestLatencyS - (plan.ttftS + 500 / plan.decodeTokensPerS)) < 1e-9)
  }

  /// Cost per 1M output tokens: devices × price per hour ÷ output tokens per hour × 1M.
  @Test func costPerMillion() throws {
    let plan = try Planner.plan(PlanRequest(model: preset("llama-2-70b"), weights: .f16, context: 4096, concurrency: 16,
                                            hardware: hw("h100-80gb"), pricePerHour: 4, spotPricePerHour: 2))
    let expected = Double(plan.devices) * 4.0 / (plan.saturatedOutputTokensPerS * 3600) * 1e6
    #expect(abs(plan.costPerMillionTokens! - expected) < 1e-9)
    #expect(abs(plan.costPerMillionTokensSpot! - expected / 2) < 1e-9)
  }

  /// A catalogue price applies when no flag gives one.
  @Test func catalogPriceIsTheDefault() throws {
    var h = hw("l4")
    h.pricePerHour = 0.8
    let plan = try Planner.plan(PlanRequest(model: preset("qwen2.5-7b"), weights: .int4, context: 8192, hardware: h))
    #expect(plan.pricePerHour == 0.8 && plan.costPerMillionTokens != nil && plan.costPerMillionTokensSpot == nil)
  }

  /// FP8 prefill runs at the FP8 peak where there is one, and at the FP16 peak on an A100.
  @Test func fp8FallsBackWithoutFP8Hardware() throws {
    let m = preset("llama-3.1-8b")
    let h100 = try Planner.plan(PlanRequest(model: m, weights: .fp8, context: 4096, hardware: hw("h100-80gb")))
    let a100 = try Planner.plan(PlanRequest(model: m, weights: .fp8, context: 4096, hardware: hw("a100-80gb")))
    #expect(h100.prefillTokensPerS > 4 * a100.prefillTokensPerS)
    #expect(a100.notes.contains { $0.contains("no FP8 arithmetic") })
  }

  @Test func kubernetesSnippet() throws {
    let plan = try Planner.plan(PlanRequest(model: preset("llama-2-70b"), weights: .f16, context: 4096, concurrency: 8,
                                            hardware: hw("h100-80gb"), qps: 3))
    let k = plan.kubernetes
    #expect(k.contains("replicas: \(plan.replicas)"))
    #expect(k.contains("nvidia.com/gpu: \"2\""))
    #expect(k.components(separatedBy: "nvidia.com/gpu").count == 3)  // requests and limits
    #expect(k.contains("name: hearth-llama-2-70b"))
    let cpuPlan = try Planner.plan(PlanRequest(model: preset("qwen2.5-0.5b"), weights: .q8_0, context: 4096,
                                               hardware: try Catalog().find("xeon-8480", field: "--cpu")))
    #expect(!cpuPlan.kubernetes.contains("nvidia.com/gpu"))
    #expect(cpuPlan.kubernetes.contains("cpu: \"56\""))
  }

  /// The JSON carries every key the issue lists, with null for an absent price.
  @Test func jsonKeys() throws {
    let plan = try Planner.plan(PlanRequest(model: preset("mistral-7b"), weights: .q4_K, kv: .q8_0, context: 8192,
                                            concurrency: 4, hardware: hw("rtx-4090")))
    let obj = try #require(JSONSerialization.jsonObject(with: Data(plan.json().utf8)) as? [String: Any])
    for key in ["weights_bytes", "kv_bytes_per_token", "kv_bytes_total", "gpus", "tensor_parallel", "max_concurrency",
                "decode_tokens_per_s", "prefill_tokens_per_s", "cost_per_million_tokens", "ttft_s", "runtime_overhead_bytes",
                "kubernetes", "replicas"] {
      #expect(obj[key] != nil, "missing \(key)")
    }
    #expect(obj["cost_per_million_tokens"] is NSNull)
    #expect(obj["gpus"] as? Int == 1)
    #expect(obj["kv_bytes_per_token"] as? Int == Int(131_072.0 * 34 / 32 / 2))
    #expect((obj["memory"] as? [String: Any])?["kv_per_sequence"] != nil)
  }

  @Test func tableHasEverySection() throws {
    let plan = try Planner.plan(PlanRequest(model: preset("llama-3.1-8b"), weights: .bf16, context: 8192, concurrency: 4,
                                            hardware: hw("l40s"), pricePerHour: 1.2, targets: Targets(tokensPerSecond: 1000)))
    let t = plan.table()
    for s in ["memory", "placement", "speed", "cost", "targets: NOT all met", "kubernetes", "KV cache per token"] {
      #expect(t.contains(s), "\(s)")
    }
  }
}

import Testing

@testable import Planner

/// Published figures the planner must reproduce. Each test names where its number comes from.
@Suite struct KnownFiguresTests {
  func preset(_ name: String) -> ModelSpec { Presets.named(name)! }
  func hw(_ name: String) -> Hardware { try! Catalog().find(name, field: "--gpu") }

  /// Llama 2 paper (Touvron et al. 2023) and meta-llama/Llama-2-70b-hf: ~69 B parameters; at 2 bytes
  /// each that is ~138 GB ("about 140 GB"), more than one 80 GB GPU holds.
  @Test func seventyBInF16NeedsTwoEightyGBGPUs() throws {
    let m = preset("llama-2-70b")
    let w = try m.weights(.f16)
    #expect(w.bytes > 136e9 && w.bytes < 140e9)
    for gpu in ["h100-80gb", "a100-80gb"] {
      let plan = try Planner.plan(PlanRequest(model: m, weights: .f16, context: 4096, concurrency: 1, hardware: hw(gpu)))
      #expect(plan.devices == 2, "\(gpu)")
      #expect(plan.layout.tensorParallel == 2)
      // The second GPU's room beyond the weights is what holds the KV cache.
      #expect(Double(plan.memoryUsedPerDeviceBytes) > w.bytes / 2)
    }
    // Llama 3.x 70B is the same size class.
    let plan3 = try Planner.plan(PlanRequest(model: preset("llama-3.1-70b"), weights: .bf16, context: 8192, hardware: hw("h100-80gb")))
    #expect(plan3.devices == 2)
  }

  /// Issue 7: Llama 2 70B (80 layers, 8 KV heads, head dim 128, HF config) keeps 0.3125 MiB per token in F16.
  @Test func llama2_70bKVPerToken() {
    #expect(preset("llama-2-70b").kvBytesPerToken(.f16) == 80 * 8 * 128 * 2 * 2)
    #expect(preset("llama-2-70b").kvBytesPerToken(.f16) == 0.3125 * 1_048_576)
  }

  /// meta-llama/Meta-Llama-3-8B and mistralai/Mistral-7B-v0.3 config.json: 32 layers × 8 KV heads × 128 → 128 KiB/token.
  @Test func eightBClassGQAKV() {
    for name in ["llama-3-8b", "llama-3.1-8b", "mistral-7b", "mixtral-8x7b"] {
      #expect(preset(name).kvBytesPerToken(.f16) == 131_072, "\(name)")
    }
  }

  /// meta-llama/Llama-2-7b-hf has no GQA (32 KV heads): 32 × 32 × 128 × 2 × 2 = 512 KiB/token.
  @Test func llama2_7bWithoutGQA() {
    #expect(preset("llama-2-7b").kvBytesPerToken(.f16) == 524_288)
    // Q8_0 KV stores 34 bytes per 32 elements (ggml block_q8_0).
    #expect(preset("llama-2-7b").kvBytesPerToken(.q8_0) == 524_288 / 2 * 34 / 32)
  }

  /// Qwen/Qwen2.5-72B config.json: 80 layers × 8 KV heads × 128 dims, as Llama 2 70B.
  @Test func qwen72bKV() {
    #expect(preset("qwen2.5-72b").kvBytesPerToken(.f16) == 327_680)
  }

  /// Mistral AI, "Mixtral of experts" (2023-12-11): 46.7 B total parameters, 12.9 B used per token.
  @Test func mixtral8x7bParameters() {
    let m = preset("mixtral-8x7b")
    let w = m.architectureParameters
    #expect(abs(Double(w.parameters) / 46.7e9 - 1) < 0.005)
    let active = w.activeMatmulParameters(m) + Double(w.embedding.parameters + w.output.parameters)
    #expect(abs(active / 12.9e9 - 1) < 0.01)
  }

  /// Mistral AI, "Cheaper, Better, Faster, Stronger" (2024-04-17): Mixtral 8x22B has 141 B parameters, 39 B active.
  @Test func mixtral8x22bParameters() {
    let m = preset("mixtral-8x22b")
    let w = m.architectureParameters
    #expect(abs(Double(w.parameters) / 141e9 - 1) < 0.01)
    #expect(abs((w.activeMatmulParameters(m) + Double(w.embedding.parameters + w.output.parameters)) / 39e9 - 1) < 0.02)
  }

  /// Parameter counts from the model cards: Llama 2 7B/13B/70B (HF safetensors: 6.74 B, 13.0 B, 69.0 B),
  /// Llama 3.1 8B (8.03 B) and 70B (70.6 B), Qwen2.5 "Number of Parameters" (0.49 B … 72.7 B),
  /// Mistral 7B v0.3 (7.25 B), Gemma 3 270M (~268 M: 170 M embedding + 100 M transformer).
  @Test(arguments: [
    ("llama-2-7b", 6.74e9), ("llama-2-13b", 13.0e9), ("llama-2-70b", 68.98e9), ("llama-3.1-8b", 8.03e9),
    ("llama-3.1-70b", 70.6e9), ("qwen2.5-0.5b", 0.49e9), ("qwen2.5-1.5b", 1.54e9), ("qwen2.5-3b", 3.09e9),
    ("qwen2.5-7b", 7.61e9), ("qwen2.5-14b", 14.7e9), ("qwen2.5-32b", 32.5e9), ("qwen2.5-72b", 72.7e9),
    ("mistral-7b", 7.25e9), ("gemma-3-270m", 0.268e9),
  ])
  func publishedParameterCounts(_ name: String, _ published: Double) {
    let n = Double(preset(name).architectureParameters.parameters)
    #expect(abs(n / published - 1) < 0.015, "\(name): \(n)")
  }

  /// H100 SXM datasheet: 3.35 TB/s. A 7B model in F16 is ~13.5 GB, so even a perfect kernel decodes
  /// one stream at most ~250 tokens/s (3.35 TB/s ÷ 13.2 GB read per token, embeddings not read).
  @Test func sevenBF16DecodeRooflineOnH100() throws {
    let m = preset("llama-2-7b")
    let roof = Roofline(model: m, weights: try m.weights(.f16), hardware: hw("h100-80gb"), precision: .fp16, kv: .f16,
                        decodeEfficiency: 1, prefillEfficiency: 1)
    let tps = 1 / roof.decodeStep(batch: 1, context: 1).seconds
    #expect(tps > 240 && tps < 260)
    // With the default 80 % efficiency the planner says about 200.
    let plan = try Planner.plan(PlanRequest(model: m, weights: .f16, context: 2, hardware: hw("h100-80gb")))
    #expect(plan.decodeTokensPerSSingle > 190 && plan.decodeTokensPerSSingle < 210)
  }

  /// Prefill is 2 FLOPs per weight per token: a 7B model at H100's 989.5 dense FP16 TFLOPS (datasheet)
  /// tops out near 989.5e12 / (2 × 6.6e9 + attention) ≈ 72 000 tokens/s on a 2K prompt. H100's ridge
  /// point is 989.5e12 / 3.35e12 ≈ 295 FLOPs per byte, so a 128-token prompt is still bandwidth-bound.
  @Test func sevenBPrefillComputeRoofline() throws {
    let m = preset("llama-2-7b")
    let roof = Roofline(model: m, weights: try m.weights(.f16), hardware: hw("h100-80gb"), precision: .fp16, kv: .f16,
                        decodeEfficiency: 1, prefillEfficiency: 1)
    let p = roof.prefill(prompt: 2048)
    let tps = 2048 / p.seconds
    #expect(tps > 70_000 && tps < 76_000)
    #expect(p.boundBy == "compute")
    #expect(roof.prefill(prompt: 128).boundBy == "memory bandwidth")
  }

  /// ggml block layouts: Q8_0 is 34 bytes per 32 weights (8.5 bits), Q4_K 144 per 256 (4.5 bits);
  /// GPTQ 4-bit with group size 128 adds an f16 scale and a 4-bit zero per group (4.156 bits).
  @Test func bitsPerWeight() {
    #expect(WeightFormat.q8_0.bytesPerParameter * 8 == 8.5)
    #expect(WeightFormat.q4_K.bytesPerParameter * 8 == 4.5)
    #expect(abs(WeightFormat.int4.bytesPerParameter * 8 - 4.15625) < 1e-9)
    #expect(WeightFormat.fp8.bytesPerParameter == 1)
  }

  /// vLLM docs and common practice: Llama 3 8B in BF16 (~16 GB) serves from one 24 GB L4; in Q4_K
  /// a 70B (~40 GB) fits one 48 GB L40S but needs two 24 GB RTX 4090s.
  @Test func singleCardPlacements() throws {
    let p8 = try Planner.plan(PlanRequest(model: preset("llama-3.1-8b"), weights: .bf16, context: 8192, hardware: hw("l4")))
    #expect(p8.devices == 1)
    let l40s = try Planner.plan(PlanRequest(model: preset("llama-3.1-70b"), weights: .q4_K, context: 4096, hardware: hw("l40s")))
    #expect(l40s.devices == 1)
    let rtx = try Planner.plan(PlanRequest(model: preset("llama-3.1-70b"), weights: .q4_K, context: 4096, hardware: hw("rtx-4090")))
    #expect(rtx.devices == 2)
  }

  /// Gemma 3 technical report: five local layers (1024-token window) per global layer. Gemma 3 27B
  /// (62 layers → 10 global, 52 local; 16 KV heads × 128) at 128K context keeps only the window in
  /// local layers: (10 × 131072 + 52 × 1024) × 16 × 128 × 2 × 2 bytes.
  @Test func gemma3SlidingWindowKV() {
    let m = preset("gemma-3-27b")
    #expect(m.globalLayers == 10 && m.localLayers == 52)
    let expected = Double((10 * 131_072 + 52 * 1024) * 16 * 128 * 2 * 2)
    #expect(m.kvBytesPerSequence(context: 131_072, .f16) == expected)
    // The full-attention per-token figure stays the classic formula.
    #expect(m.kvBytesPerToken(.f16) == Double(62 * 16 * 128 * 2 * 2))
  }

  /// docs/planning.md, "Runtime overhead": 1.5 GiB per GPU (CUDA context, cuBLAS/NCCL workspaces)
  /// plus f16 activations of one 2,048-token prefill chunk: chunk × (2 × hidden + (q + 2 kv dims)/TP
  /// + 2 × FFN/TP) × 2 bytes. Computed here from the model's published shape, not the planner's code.
  @Test func runtimeOverheadFollowsTheDocumentedFormula() throws {
    func expected(hidden: Int, q: Int, kv: Int, ffn: Int, tp: Int) -> Int {
      (3 << 29) + 2048 * (2 * hidden + (q + 2 * kv) / tp + 2 * ffn / tp) * 2
    }
    let p7 = try Planner.plan(PlanRequest(model: preset("llama-2-7b"), weights: .f16, context: 4096, hardware: hw("h100-80gb")))
    #expect(p7.layout.tensorParallel == 1)
    #expect(p7.runtimeOverheadBytes == expected(hidden: 4096, q: 4096, kv: 4096, ffn: 11008, tp: 1))
    #expect(p7.runtimeOverheadBytes == 1_784_676_352)
    let p70 = try Planner.plan(PlanRequest(model: preset("llama-2-70b"), weights: .f16, context: 4096, hardware: hw("h100-80gb")))
    #expect(p70.layout.tensorParallel == 2)
    #expect(p70.runtimeOverheadBytes == expected(hidden: 8192, q: 8192, kv: 1024, ffn: 28672, tp: 2))
  }
}

import Testing

@testable import Planner

@Suite struct ServingTests {
  /// Textbook Erlang C values: one server offered a erlangs waits with probability a (M/M/1);
  /// two servers offered 1 erlang wait with probability 1/3.
  @Test func erlangC() {
    #expect(abs(Queueing.erlangC(servers: 1, load: 0.5) - 0.5) < 1e-12)
    #expect(abs(Queueing.erlangC(servers: 2, load: 1) - 1.0 / 3) < 1e-12)
    #expect(Queueing.erlangC(servers: 4, load: 4) == 1)
    // Many servers lightly loaded: nearly nobody waits.
    #expect(Queueing.erlangC(servers: 256, load: 100) < 1e-10)
  }

  /// More replicas never raise P99; prefill time steals decode time in proportion to load.
  @Test func estimateBehaves() throws {
    let a = try #require(Queueing.estimate(replicas: 2, qps: 4, slots: 32, prefillSeconds: 0.2, stepSeconds: 0.02, outputTokens: 200))
    let b = try #require(Queueing.estimate(replicas: 4, qps: 4, slots: 32, prefillSeconds: 0.2, stepSeconds: 0.02, outputTokens: 200))
    #expect(b.p99LatencySeconds <= a.p99LatencySeconds)
    #expect(abs(a.prefillShare - 0.4) < 1e-12)
    #expect(abs(a.serviceSeconds - (0.2 + 200 * 0.02 / 0.6)) < 1e-12)
    // Prefill alone saturates one replica at 5 QPS; 2 replicas at 4 QPS with 8 slots run out of slots.
    #expect(Queueing.estimate(replicas: 2, qps: 4, slots: 8, prefillSeconds: 0.2, stepSeconds: 0.02, outputTokens: 200) == nil)
    #expect(Queueing.estimate(replicas: 1, qps: 5, slots: 32, prefillSeconds: 0.2, stepSeconds: 0.02, outputTokens: 200) == nil)
  }

  /// The replica count is the smallest meeting the target: one fewer misses it.
  @Test func sizeIsMinimal() throws {
    let args = (qps: 20.0, slots: 16, prefill: 0.3, step: 0.025, out: 300)
    let e = try #require(Queueing.size(qps: args.qps, slots: args.slots, prefillSeconds: args.prefill, stepSeconds: args.step,
                                       outputTokens: args.out, p99Target: 15))
    #expect(e.p99LatencySeconds <= 15)
    let fewer = Queueing.estimate(replicas: e.replicas - 1, qps: args.qps, slots: args.slots, prefillSeconds: args.prefill,
                                  stepSeconds: args.step, outputTokens: args.out)
    #expect(fewer == nil || fewer!.p99LatencySeconds > 15)
    // Without a target the slots run at most 80 % busy.
    let h = try #require(Queueing.size(qps: args.qps, slots: args.slots, prefillSeconds: args.prefill, stepSeconds: args.step,
                                       outputTokens: args.out, p99Target: nil))
    #expect(h.utilization <= 0.8)
    // Huge QPS still converges.
    let big = try #require(Queueing.size(qps: 50_000, slots: 64, prefillSeconds: 0.1, stepSeconds: 0.02, outputTokens: 100, p99Target: nil))
    #expect(big.replicas > 5000 && big.utilization <= 0.8)
  }

  /// A TTFT target sizes replicas too: queueing for a slot is what pushes P99 TTFT above the prefill.
  @Test func ttftTargetSizesReplicas() throws {
    let loose = try #require(Queueing.size(qps: 10, slots: 8, prefillSeconds: 0.5, stepSeconds: 0.03, outputTokens: 300,
                                           p99Target: 60))
    let tight = try #require(Queueing.size(qps: 10, slots: 8, prefillSeconds: 0.5, stepSeconds: 0.03, outputTokens: 300,
                                           p99Target: 60, ttftTarget: 0.6))
    #expect(tight.p99TTFTSeconds <= 0.6)
    #expect(tight.replicas > loose.replicas)
  }

  /// A P99 below one request's own latency can't be bought with replicas: reported as not met.
  @Test func unreachableP99IsReported() throws {
    let m = Presets.named("llama-3.1-70b")!
    let plan = try Planner.plan(PlanRequest(model: m, weights: .fp8, context: 32768, concurrency: 16,
                                            hardware: try Catalog().find("h100-80gb", field: "--gpu"),
                                            promptTokens: 30000, outputTokens: 500, targets: Targets(p99Seconds: 0.5), qps: 2))
    #expect(!plan.targetsMet)
    #expect(plan.notes.contains { $0.contains("more replicas cannot meet it") })
    #expect(plan.serving!.utilization <= 0.8)
  }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Load on the deployment at a target QPS: how many replicas, and the latency tail they give.
///
/// Each replica is a queue with `slots` servers (its concurrent sequences). A request holds a slot for
/// its prefill and then its decode. Prefill runs on the same devices as decode, so while a replica
/// spends a share f = λ·T_prefill of its time prefilling, each decode step stretches by 1/(1 − f).
/// Waiting for a slot follows Erlang C (M/M/c): P(wait > t) = C(c, a)·e^−(c/S − λ)t.
public struct ServingEstimate: Sendable, Equatable, Codable {
  public var replicas: Int
  public var qpsPerReplica: Double
  /// Share of each replica's time spent prefilling.
  public var prefillShare: Double
  /// Seconds a request holds a slot: prefill, then every output token at the stretched step time.
  public var serviceSeconds: Double
  /// Busy share of the slots, a / c.
  public var utilization: Double
  /// Probability that a request waits for a slot (Erlang C).
  public var waitProbability: Double
  public var p99WaitSeconds: Double
  public var p99LatencySeconds: Double
  public var p99TTFTSeconds: Double
}

public enum Queueing {
  /// The slot utilisation a deployment without a P99 target is sized for: leaves room for bursts.
  public static let headroomUtilization = 0.8

  /// Erlang C: probability that an arrival waits, for `servers` servers offered `load` = λ·S erlangs.
  public static func erlangC(servers c: Int, load a: Double) -> Double {
    guard a < Double(c) else { return 1 }
    var b = 1.0  // Erlang B by the stable recursion B(k) = a·B(k−1) / (k + a·B(k−1))
    for k in 1...max(c, 1) { b = a * b / (Double(k) + a * b) }
    return Double(c) * b / (Double(c) - a * (1 - b))
  }

  /// The estimate for `replicas`, or nil when a replica can't keep up at all.
  public static func estimate(replicas: Int, qps: Double, slots: Int, prefillSeconds: Double, stepSeconds: Double,
                              outputTokens: Int) -> ServingEstimate? {
    let lambda = qps / Double(replicas)
    let f = lambda * prefillSeconds
    guard f < 1 else { return nil }
    let service = prefillSeconds + Double(outputTokens) * stepSeconds / (1 - f)
    let load = lambda * service
    guard load < Double(slots) else { return nil }
    let pWait = erlangC(servers: slots, load: load)
    let drain = Double(slots) / service - lambda
    let wait99 = pWait <= 0.01 ? 0 : log(pWait / 0.01) / drain
    return ServingEstimate(
      replicas: replicas, qpsPerReplica: lambda, prefillShare: f, serviceSeconds: service,
      utilization: load / Double(slots), waitProbability: pWait, p99WaitSeconds: wait99,
      p99LatencySeconds: service + wait99, p99TTFTSeconds: wait99 + prefillSeconds)
  }

  /// The most replicas the planner will suggest; beyond it the QPS target is reported as out of reach.
  public static let maxReplicas = 1_000_000

  /// The fewest replicas that meet the latency targets (P99 request latency, P99 TTFT), or keep slots
  /// at most 80 % busy when there is none. A target no replica count can meet (its floor, one
  /// unloaded request, is above it) is left out of the sizing and reported as missed. Nil when even
  /// `maxReplicas` can't keep up.
  public static func size(qps: Double, slots: Int, prefillSeconds: Double, stepSeconds: Double, outputTokens: Int,
                          p99Target: Double?, ttftTarget: Double? = nil) -> ServingEstimate? {
    let floor = prefillSeconds + Double(outputTokens) * stepSeconds
    let p99 = p99Target.flatMap { $0 > floor ? $0 : nil }
    let ttft = ttftTarget.flatMap { $0 > prefillSeconds ? $0 : nil }
    func meets(_ r: Int) -> ServingEstimate? {
      guard let e = estimate(replicas: r, qps: qps, slots: slots, prefillSeconds: prefillSeconds,
                             stepSeconds: stepSeconds, outputTokens: outputTokens) else { return nil }
      if p99 == nil, ttft == nil { return e.utilization <= headroomUtilization ? e : nil }
      if let p99, e.p99LatencySeconds > p99 { return nil }
      if let ttft, e.p99TTFTSeconds > ttft { return nil }
      return e
    }
    // Every criterion only improves with more replicas: gallop up from the stability bound, then bisect.
    let lower = max(qps * prefillSeconds, qps * floor / Double(slots))
    var lo = max(1, Int(min(lower, Double(maxReplicas)).rounded(.down)))
    if let e = meets(lo) { return e }
    var step = 1
    var hi = lo + step
    while meets(hi) == nil {
      guard hi < maxReplicas else { return nil }
      lo = hi
      step *= 2
      hi = min(lo + step, maxReplicas)
    }
    while hi - lo > 1 {
      let mid = (lo + hi) / 2
      if meets(mid) != nil { hi = mid } else { lo = mid }
    }
    return meets(hi)
  }
}

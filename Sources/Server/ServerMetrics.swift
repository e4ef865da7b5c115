import Engine
import Foundation
import Prometheus

/// Prometheus metrics, named like vLLM's (with the `hearth_` prefix) so its dashboards carry
/// over. Each server has its own registry (no global bootstrap), so tests can run several.
public final class ServerMetrics: Sendable {
  public let registry = PrometheusCollectorRegistry()

  static let latencyBuckets: [Double] = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80]
  static let httpBuckets: [Double] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

  public init() {}

  private func d(_ name: String, _ help: String) -> MetricNameDescriptor {
    MetricNameDescriptor(metricName: name, helpText: help)
  }

  func gauge(_ name: String, _ help: String, _ labels: [(String, String)]) -> Gauge {
    registry.makeGauge(descriptor: d(name, help), labels: labels)
  }

  func counter(_ name: String, _ help: String, _ labels: [(String, String)]) -> Counter {
    registry.makeCounter(descriptor: d(name, help), labels: labels)
  }

  func histogram(_ name: String, _ help: String, _ labels: [(String, String)], buckets: [Double] = latencyBuckets) -> ValueHistogram {
    registry.makeValueHistogram(descriptor: d(name, help), labels: labels, buckets: buckets)
  }

  /// One HTTP request, labelled by route pattern (never the raw path).
  func http(route: String, method: String, status: Int, seconds: Double) {
    histogram(
      "hearth_http_request_duration_seconds", "HTTP request latency by route pattern",
      [("route", route), ("method", method), ("status", String(status))], buckets: Self.httpBuckets
    ).record(seconds)
  }

  /// Updates the engine gauges of one model.
  func engineStats(model: String, _ s: EngineStats) {
    let l = [("model", model)]
    gauge("hearth_num_requests_running", "Requests in the running batch", l).set(Double(s.running))
    gauge("hearth_num_requests_waiting", "Requests waiting for a slot", l).set(Double(s.waiting))
    gauge("hearth_kv_cache_usage_ratio", "Fraction of KV cache blocks held by requests", l).set(s.kvUsage)
  }

  func requestFailure(model: String, reason: String) {
    counter("hearth_request_failure_total", "Requests that failed, by reason", [("model", model), ("reason", reason)]).increment()
  }

  /// The observer one model's engine reports to.
  func observer(model: String) -> EngineObserver { ModelObserver(metrics: self, model: model) }

  public func text() -> String { registry.emitToString() }
}

/// Engine callbacks turned into metrics with a `model` label.
final class ModelObserver: EngineObserver, @unchecked Sendable {
  let m: ServerMetrics
  let labels: [(String, String)]
  let ttft, itl, e2e, queue: ValueHistogram
  let promptTokens, generationTokens, prefixQueries, prefixHits: Counter

  init(metrics: ServerMetrics, model: String) {
    m = metrics
    labels = [("model", model)]
    ttft = m.histogram("hearth_time_to_first_token_seconds", "Time to first token", labels)
    itl = m.histogram("hearth_inter_token_latency_seconds", "Time between tokens of a stream", labels)
    e2e = m.histogram("hearth_e2e_request_latency_seconds", "End-to-end request latency", labels)
    queue = m.histogram("hearth_request_queue_time_seconds", "Time spent waiting for a slot", labels)
    promptTokens = m.counter("hearth_prompt_tokens_total", "Prompt tokens processed", labels)
    generationTokens = m.counter("hearth_generation_tokens_total", "Tokens generated", labels)
    prefixQueries = m.counter("hearth_prefix_cache_queries_total", "Prompt tokens looked up in the prefix cache", labels)
    prefixHits = m.counter("hearth_prefix_cache_hits_total", "Prompt tokens found in the prefix cache", labels)
  }

  func queued(seconds: Double) { queue.record(seconds) }
  func firstToken(seconds: Double) { ttft.record(seconds) }
  func interToken(seconds: Double) { itl.record(seconds) }

  func finished(reason: FinishReason, promptTokens p: Int, completionTokens c: Int, seconds: Double) {
    promptTokens.increment(by: Int64(p))
    generationTokens.increment(by: Int64(c))
    e2e.record(seconds)
    if reason == .cancelled {
      m.requestFailure(model: labels[0].1, reason: "cancelled")
    } else {
      m.counter("hearth_request_success_total", "Requests finished, by finish reason", labels + [("finish_reason", reason.rawValue)]).increment()
    }
  }

  func failed(reason: String) { m.requestFailure(model: labels[0].1, reason: reason) }

  func prefixCache(queries: Int, hits: Int) {
    prefixQueries.increment(by: Int64(queries))
    prefixHits.increment(by: Int64(hits))
  }
}

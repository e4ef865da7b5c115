import ControlPlane
import Foundation

/// Per-version metrics of requests served through deployments: an A/B comparison is a PromQL query
/// over the `version` label, e.g. `histogram_quantile(0.99, sum by (version, le) (rate(hearth_deployment_request_duration_seconds_bucket[5m])))`.
extension ServerMetrics {
  func deploymentRequest(_ r: DeploymentRequest) {
    let labels = [("deployment", r.deployment), ("version", r.version.description), ("variant", r.variant.rawValue)]
    counter("hearth_deployment_requests_total", "Requests served through deployments, by version and status", labels + [("status", String(r.status))])
      .increment()
    histogram("hearth_deployment_request_duration_seconds", "Request latency by deployment version", labels).record(Double(r.latencyMicros) / 1e6)
    counter("hearth_deployment_tokens_total", "Tokens by deployment version", labels + [("kind", "prompt")]).increment(by: Int64(r.promptTokens))
    counter("hearth_deployment_tokens_total", "Tokens by deployment version", labels + [("kind", "completion")]).increment(by: Int64(r.completionTokens))
    if let agreed = r.agreed {
      counter("hearth_deployment_shadow_comparisons_total", "Shadow runs compared with the primary", labels + [("agreed", String(agreed))]).increment()
    }
  }
}

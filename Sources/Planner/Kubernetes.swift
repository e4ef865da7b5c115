import Foundation

/// The Deployment fragment a plan implies: replicas and per-pod resources.
public enum Kubernetes {
  /// Host RAM a GPU pod needs besides the weights: runtime, tokenizer, HTTP server, page cache slack.
  static let gpuHostBaseGiB = 8.0
  /// Host cores per GPU: tokenization, scheduling and the HTTP server run on the CPU.
  static let coresPerGPU = 4

  public static func snippet(_ p: CapacityPlan, request r: PlanRequest) -> String {
    let name = "hearth-" + p.model.lowercased().map { $0.isLetter || $0.isNumber ? $0 : "-" }
      .reduce(into: "") { s, c in if !(c == "-" && s.hasSuffix("-")) { s.append(c) } }
      .trimmingCharacters(in: CharacterSet(charactersIn: "-")).prefix(50)
    let pods = p.layout.pipelineParallel
    let perPodDevices = p.layout.tensorParallel
    var cpu: Int, memGiB: Double
    var lines = [
      "# hearth plan: \(p.model), weights \(p.weightsFormat), KV \(p.kvCacheType), \(p.context)-token context, \(p.concurrency) sequence\(p.concurrency == 1 ? "" : "s") per replica",
    ]
    switch p.hardwareKind {
    case .gpu:
      cpu = max(4, coresPerGPU * perPodDevices)
      // The weights pass through host memory while loading, and the mapped file's page cache is
      // charged to the pod's cgroup.
      memGiB = gpuHostBaseGiB + p.memory.weights * Double(perPodDevices) / 1_073_741_824
      lines.append("# \(p.devices) × \(p.hardware) per replica (tensor parallel \(p.layout.tensorParallel)" +
                   (pods > 1 ? ", pipeline parallel \(pods): one pod per node, e.g. a LeaderWorkerSet; resources are per pod)" : ")"))
    case .cpu:
      cpu = r.hardware.cores ?? 1
      // Everything lives in RAM: weights, KV for every sequence, activations, plus 1 GiB for the process.
      memGiB = p.memory.used(concurrency: p.concurrency) / 1_073_741_824 + 1
      lines.append("# one \(p.hardware) machine per replica")
    }
    if let s = p.serving {
      lines.append("# \(p.replicas) replicas for \(fmt(s.qpsPerReplica * Double(p.replicas))) QPS (P99 \(fmt(s.p99LatencySeconds)) s predicted)")
    }
    let mem = "\(Int(memGiB.rounded(.up)))Gi"
    lines += [
      "apiVersion: apps/v1",
      "kind: Deployment",
      "metadata:",
      "  name: \(name)",
      "spec:",
      "  replicas: \(p.replicas)",
      "  selector:",
      "    matchLabels:",
      "      app: \(name)",
      "  template:",
      "    metadata:",
      "      labels:",
      "        app: \(name)",
      "    spec:",
      "      containers:",
      "        - name: hearth",
      "          resources:",
      "            requests:",
      "              cpu: \"\(cpu)\"",
      "              memory: \(mem)",
    ]
    if p.hardwareKind == .gpu { lines.append("              nvidia.com/gpu: \"\(perPodDevices)\"") }
    // No CPU limit: CFS throttling adds latency spikes to a latency-bound server.
    lines += ["            limits:", "              memory: \(mem)"]
    // Extended resources must have equal requests and limits.
    if p.hardwareKind == .gpu { lines.append("              nvidia.com/gpu: \"\(perPodDevices)\"") }
    return lines.joined(separator: "\n") + "\n"
  }

  static func fmt(_ x: Double) -> String { String(format: x < 10 ? "%.2f" : "%.1f", x) }
}

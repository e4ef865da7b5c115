import Foundation

/// Number formatting for people: binary units for memory, grouped digits for rates.
public enum Format {
  public static func gib(_ bytes: Double) -> String { String(format: "%.2f GiB", bytes / 1_073_741_824) }

  public static func bytes(_ b: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB"]
    var v = b, u = 0
    while v >= 1024, u < units.count - 1 { v /= 1024; u += 1 }
    return u == 0 ? "\(Int(b)) B" : String(format: v < 10 ? "%.4g %@" : "%.2f %@", v, units[u])
  }

  public static func count(_ x: Double) -> String {
    if x >= 1e9 { return String(format: "%.2f B", x / 1e9) }
    if x >= 1e6 { return String(format: "%.1f M", x / 1e6) }
    return String(format: "%.0f", x)
  }

  public static func rate(_ x: Double) -> String {
    if x >= 1000 {
      let f = NumberFormatter()
      f.numberStyle = .decimal
      f.maximumFractionDigits = 0
      return f.string(from: NSNumber(value: x.rounded())) ?? String(format: "%.0f", x)
    }
    return String(format: x >= 100 ? "%.0f" : x >= 10 ? "%.1f" : "%.2f", x)
  }

  public static func seconds(_ s: Double) -> String {
    s < 1 ? String(format: "%.0f ms", s * 1000) : String(format: "%.2f s", s)
  }

  public static func money(_ x: Double) -> String {
    x < 1000 ? String(format: x < 10 ? "$%.3f" : "$%.2f", x) : "$" + rate(x)
  }
}

extension CapacityPlan {
  /// The readable report `hearth plan` prints.
  public func table() -> String {
    var out: [String] = []
    func row(_ k: String, _ v: String) { out.append("  " + pad(k, 26) + v) }
    let where_ = devices == 1 ? "1 × \(hardware)" : "\(devices) × \(hardware)"
    out.append("\(model): \(Format.count(Double(parameters))) parameters" +
               (activeParameters < parameters ? " (\(Format.count(Double(activeParameters))) active)" : "") +
               ", weights \(weightsFormat), KV \(kvCacheType), context \(context), \(concurrency) sequence\(concurrency == 1 ? "" : "s")")
    out.append("")
    out.append("memory")
    row("weights", "\(Format.gib(Double(weightsBytes))) (\(String(format: "%.1f", Double(weightsBytes) / 1e9)) GB); \(Format.gib(Double(weightsBytesPerDevice))) per device")
    row("KV cache per token", Format.bytes(Double(kvBytesPerToken)))
    row("KV cache per sequence", "\(Format.bytes(Double(kvBytesPerSequence))) at \(context) tokens")
    row("KV cache total", "\(Format.bytes(Double(kvBytesTotal))) for \(concurrency) sequence\(concurrency == 1 ? "" : "s")")
    row("runtime overhead", "\(Format.gib(Double(runtimeOverheadBytes))) per device (\(Format.gib(memory.runtime)) runtime + \(Format.gib(memory.activations)) activations)")
    row("used per device", "\(Format.gib(Double(memoryUsedPerDeviceBytes))) of \(Format.gib(memory.usable)) usable (\(Format.gib(memory.capacity)) total)")
    out.append("")
    out.append("placement")
    row("devices", "\(where_), tensor parallel \(layout.tensorParallel)" + (layout.pipelineParallel > 1 ? ", pipeline parallel \(layout.pipelineParallel)" : ""))
    row("max concurrency", "\(maxConcurrency) sequences of \(context) tokens")
    out.append("")
    out.append("speed (efficiency: decode \(pct(decodeEfficiency)) of bandwidth, prefill \(pct(prefillEfficiency)) of \(computePrecision.rawValue) peak)")
    row("decode", "\(Format.rate(decodeTokensPerS)) tokens/s per stream, \(Format.rate(decodeTokensPerSTotal)) tokens/s total (bound by \(decodeStep.boundBy))")
    row("decode, one stream", "\(Format.rate(decodeTokensPerSSingle)) tokens/s")
    row("prefill", "\(Format.rate(prefillTokensPerS)) tokens/s")
    row("TTFT", "\(Format.seconds(ttftS)) for a \(promptTokens)-token prompt")
    row("request latency", "\(Format.seconds(requestLatencyS)) (prefill + \(outputTokens) output tokens at full batch)")
    out.append("")
    out.append("cost")
    if let c = costPerMillionTokens {
      row("per 1M output tokens", "\(Format.money(c)) on demand" + (costPerMillionTokensSpot.map { ", \(Format.money($0)) spot" } ?? ""))
      row("", "at \(Format.rate(saturatedOutputTokensPerS)) output tokens/s per saturated replica, prefill included")
      if let m = costPerMonth {
        row("per month", "\(Format.money(m)) on demand" + (costPerMonthSpot.map { ", \(Format.money($0)) spot" } ?? "") + " for \(replicas * devices) devices")
      }
    } else {
      row("per 1M output tokens", "no price (--price-per-hour)")
    }
    if let s = serving {
      out.append("")
      out.append("load (\(Format.rate(qps ?? 0)) QPS)")
      row("replicas", "\(replicas) (\(replicas * devices) devices), \(String(format: "%.2f", s.qpsPerReplica)) QPS each")
      row("slot utilisation", "\(pct(s.utilization)); prefill takes \(pct(s.prefillShare)) of each replica")
      row("P99 latency", "\(Format.seconds(s.p99LatencySeconds)) (wait \(Format.seconds(s.p99WaitSeconds)) + service \(Format.seconds(s.serviceSeconds)))")
      row("P99 TTFT", Format.seconds(s.p99TTFTSeconds))
    }
    if !targets.isEmpty {
      out.append("")
      out.append("targets: " + (targetsMet ? "all met" : "NOT all met"))
      for t in targets {
        row(t.name, "\(t.met ? "met" : "NOT met"): predicted \(String(format: "%.3g", t.predicted)), target \(String(format: "%.3g", t.target))")
      }
    }
    if !notes.isEmpty {
      out.append("")
      out.append("notes")
      for n in notes { out.append("  - " + n) }
    }
    out.append("")
    out.append("kubernetes")
    out.append(kubernetes.split(separator: "\n").map { "  " + $0 }.joined(separator: "\n"))
    return out.joined(separator: "\n") + "\n"
  }

  private func pct(_ x: Double) -> String { String(format: "%.0f %%", x * 100) }
}

/// Pads to `width`, never truncating: a long name pushes its row right instead of losing letters.
func pad(_ s: String, _ width: Int) -> String {
  s.count >= width ? s + " " : s.padding(toLength: width, withPad: " ", startingAt: 0)
}

func columns(_ cells: [String], _ widths: [Int]) -> String {
  "  " + zip(cells, widths).map { pad($0, $1) }.joined()
}

/// `hearth plan --list`: presets and hardware.
public func planListing(catalog: Catalog) -> String {
  var out = ["presets (--preset NAME)"]
  let mw = [16, 9, 7, 7, 9, 5, 7, 8, 8]
  out.append(columns(["name", "params", "layers", "hidden", "heads/kv", "head", "ffn", "experts", "context"], mw))
  for m in Presets.all {
    let cols = [m.name, Format.count(Double(m.architectureParameters.parameters)), "\(m.layers)", "\(m.hidden)",
                "\(m.heads)/\(m.kvHeads)", "\(m.headDim)", "\(m.ffn)", m.isMoE ? "\(m.activeExperts)/\(m.experts)" : "-", "\(m.maxContext)"]
    out.append(columns(cols, mw))
  }
  out.append("")
  out.append("hardware (--gpu NAME, --cpu [NAME]; dense peaks)")
  let hw = [14, 5, 10, 8, 9, 11, 8, 14]
  out.append(columns(["name", "kind", "memory", "GB/s", "FP16 TF", "INT8 TOPS", "FP8 TF", "interconnect"], hw))
  for h in catalog.entries {
    let cols = [h.name, h.kind.rawValue, String(format: "%.0f GiB", h.memoryGiB), String(format: "%.0f", h.bandwidthGBps),
                String(format: "%.1f", h.fp16TFLOPS), String(format: "%.1f", h.int8TOPS), h.fp8TFLOPS.map { String(format: "%.1f", $0) } ?? "-",
                h.interconnect ?? "-"]
    out.append(columns(cols, hw))
  }
  out.append("  \(Catalog.thisMachine): this machine, from `hearth plan --calibrate` (--cpu with no name)")
  return out.joined(separator: "\n") + "\n"
}

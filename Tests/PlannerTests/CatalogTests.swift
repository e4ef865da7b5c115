import Foundation
import Testing

@testable import Planner

@Suite struct CatalogTests {
  func write(_ text: String) throws -> String {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("catalog-\(UUID().uuidString).json")
    try Data(text.utf8).write(to: url)
    return url.path
  }

  func loadError(_ text: String) throws -> String {
    let path = try write(text)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var c = Catalog()
    do { try c.load(path: path); return "" } catch { return error.description }
  }

  /// The built-in catalogue has every device the issue lists, each with its source and dense peaks.
  @Test func builtInsAreComplete() throws {
    let c = Catalog()
    for name in ["a100-40gb", "a100-80gb", "h100-80gb", "h200", "l40s", "l4", "rtx-4090", "epyc-9654", "xeon-8480"] {
      let h = try c.find(name, field: "--gpu")
      #expect(!h.source.isEmpty && h.validate(name) == nil, "\(name)")
    }
    // Datasheet spot checks: H100 SXM 3.35 TB/s and 989.5 dense FP16 TFLOPS; H200 141 GB at 4.8 TB/s.
    let h100 = try c.find("h100-80gb", field: "--gpu")
    #expect(h100.bandwidthGBps == 3350 && h100.fp16TFLOPS == 989.5 && h100.int8TOPS == 1979)
    let h200 = try c.find("h200", field: "--gpu")
    #expect(h200.memoryGiB == 141 && h200.bandwidthGBps == 4800)
    #expect(Set(c.names).count == c.names.count)
  }

  @Test func fileAddsAndOverridesEntries() throws {
    let path = try write("""
      {"hardware": [
        {"name": "MI300X", "kind": "gpu", "memory_gib": 192, "bandwidth_gbps": 5300, "fp16_tflops": 1307.4,
         "int8_tops": 2614.9, "fp8_tflops": 2614.9, "interconnect": "Infinity Fabric", "interconnect_gbps": 64,
         "price_per_hour": 3.5, "source": "AMD Instinct MI300X datasheet"},
        {"name": "h100-80gb", "kind": "gpu", "memory_gib": 80, "bandwidth_gbps": 3350, "fp16_tflops": 989.5,
         "int8_tops": 1979, "price_per_hour": 2.49, "spot_price_per_hour": 1.2, "source": "our cloud's price list"}
      ]}
      """)
    defer { try? FileManager.default.removeItem(atPath: path) }
    var c = Catalog()
    try c.load(path: path)
    let mi = try c.find("mi300x", field: "--gpu")
    #expect(mi.memoryGiB == 192 && mi.pricePerHour == 3.5)
    let h100 = try c.find("h100-80gb", field: "--gpu")
    #expect(h100.spotPricePerHour == 1.2)
    #expect(c.names.filter { $0 == "h100-80gb" }.count == 1)
    // A 70B in F16 fits one 192 GiB device.
    let plan = try Planner.plan(PlanRequest(model: Presets.named("llama-2-70b")!, weights: .f16, context: 4096, hardware: mi))
    #expect(plan.devices == 1 && plan.costPerMillionTokens != nil)
  }

  @Test func bareArrayIsAccepted() throws {
    #expect(try loadError("""
      [{"name": "tiny", "kind": "cpu", "memory_gib": 8, "bandwidth_gbps": 20, "fp16_tflops": 0.1, "int8_tops": 0.4, "source": "x"}]
      """) == "")
  }

  @Test func badFilesNameTheProblem() throws {
    #expect(try loadError("{not json").hasSuffix(": not valid JSON"))
    #expect(try loadError(#"{"hardware": []}"#).hasSuffix(": no hardware entries"))
    #expect(try loadError(#"{"hardware": [{"name": "x", "kind": "gpu", "memory_gib": 8, "fp16_tflops": 1, "int8_tops": 1, "source": ""}]}"#)
      .hasSuffix(": entry 1: bandwidth_gbps is missing"))
    #expect(try loadError(#"{"hardware": [{"name": "x", "kind": "gpu", "memory_gib": -8, "bandwidth_gbps": 1, "fp16_tflops": 1, "int8_tops": 1, "source": ""}]}"#)
      .hasSuffix("entry 1 ('x'): memory_gib must be positive"))
    #expect(try loadError(#"{"hardware": [{"name": "x", "kind": "tpu", "memory_gib": 8, "bandwidth_gbps": 1, "fp16_tflops": 1, "int8_tops": 1, "source": ""}]}"#)
      .contains("kind"))
    #expect(try loadError(#"[{"name": "x", "kind": "gpu", "memory_gib": "lots", "bandwidth_gbps": 1, "fp16_tflops": 1, "int8_tops": 1, "source": ""}]"#)
      .contains("entry 1: memory_gib has the wrong type"))
    var c = Catalog()
    #expect(throws: PlannerError.self) { try c.load(path: "/nonexistent/catalog.json") }
  }
}

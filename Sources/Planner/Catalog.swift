import Foundation

/// The hardware the planner knows: built-in datasheet figures plus any entries from a JSON file.
///
/// Sources and derivations for every built-in number are in docs/planning.md. Peaks are dense; the
/// datasheets' larger "with sparsity" figures are exactly twice these.
public struct Catalog: Sendable {
  public private(set) var entries: [Hardware]

  public init(entries: [Hardware] = Catalog.builtIn) { self.entries = entries }

  public static let builtIn: [Hardware] = gpus + cpus

  static let gpus: [Hardware] = [
    Hardware(name: "a100-40gb", kind: .gpu, memoryGiB: 40, bandwidthGBps: 1555, fp16TFLOPS: 312, int8TOPS: 624,
             interconnect: "NVLink 3", interconnectGBps: 300, allReduceLatencyMicroseconds: 10, cores: 8,
             aliases: ["a100-sxm-40gb"], source: "NVIDIA A100 Tensor Core GPU datasheet (SXM4 40GB)"),
    Hardware(name: "a100-80gb", kind: .gpu, memoryGiB: 80, bandwidthGBps: 2039, fp16TFLOPS: 312, int8TOPS: 624,
             interconnect: "NVLink 3", interconnectGBps: 300, allReduceLatencyMicroseconds: 10, cores: 8,
             aliases: ["a100", "a100-sxm-80gb"], source: "NVIDIA A100 Tensor Core GPU datasheet (SXM4 80GB)"),
    Hardware(name: "h100-80gb", kind: .gpu, memoryGiB: 80, bandwidthGBps: 3350, fp16TFLOPS: 989.5, int8TOPS: 1979,
             fp8TFLOPS: 1979, interconnect: "NVLink 4", interconnectGBps: 450, allReduceLatencyMicroseconds: 8, cores: 8,
             aliases: ["h100", "h100-sxm", "h100-sxm-80gb"], source: "NVIDIA H100 Tensor Core GPU datasheet (H100 SXM)"),
    Hardware(name: "h100-pcie", kind: .gpu, memoryGiB: 80, bandwidthGBps: 2000, fp16TFLOPS: 756.5, int8TOPS: 1513,
             fp8TFLOPS: 1513, interconnect: "PCIe 5.0 x16", interconnectGBps: 64, allReduceLatencyMicroseconds: 25, cores: 8,
             aliases: ["h100-pcie-80gb"], source: "NVIDIA H100 Tensor Core GPU datasheet (H100 PCIe)"),
    Hardware(name: "h200", kind: .gpu, memoryGiB: 141, bandwidthGBps: 4800, fp16TFLOPS: 989.5, int8TOPS: 1979,
             fp8TFLOPS: 1979, interconnect: "NVLink 4", interconnectGBps: 450, allReduceLatencyMicroseconds: 8, cores: 8,
             aliases: ["h200-141gb", "h200-sxm"], source: "NVIDIA H200 Tensor Core GPU datasheet (H200 SXM)"),
    Hardware(name: "l40s", kind: .gpu, memoryGiB: 48, bandwidthGBps: 864, fp16TFLOPS: 362.05, int8TOPS: 733,
             fp8TFLOPS: 733, interconnect: "PCIe 4.0 x16", interconnectGBps: 32, allReduceLatencyMicroseconds: 25, cores: 8,
             aliases: ["l40s-48gb"], source: "NVIDIA L40S datasheet"),
    Hardware(name: "l4", kind: .gpu, memoryGiB: 24, bandwidthGBps: 300, fp16TFLOPS: 121, int8TOPS: 242.5,
             fp8TFLOPS: 242.5, interconnect: "PCIe 4.0 x16", interconnectGBps: 32, allReduceLatencyMicroseconds: 25, cores: 4,
             aliases: ["l4-24gb"], source: "NVIDIA L4 Tensor Core GPU datasheet"),
    Hardware(name: "rtx-4090", kind: .gpu, memoryGiB: 24, bandwidthGBps: 1008, fp16TFLOPS: 165.2, int8TOPS: 660.6,
             fp8TFLOPS: 330.3, interconnect: "PCIe 4.0 x16", interconnectGBps: 32, allReduceLatencyMicroseconds: 25, cores: 4,
             aliases: ["4090", "rtx4090", "geforce-rtx-4090"],
             source: "NVIDIA Ada Lovelace GPU architecture whitepaper, GeForce RTX 4090 (FP16 with FP32 accumulate)"),
  ]

  // CPU "fp16" is the f32 vector FMA peak (f16 weights are widened to f32) and "int8" the VNNI dot
  // product peak, both at base clock: cores × GHz × operations per cycle (derivation in the docs).
  static let cpus: [Hardware] = [
    Hardware(name: "epyc-9654", kind: .cpu, memoryGiB: 768, bandwidthGBps: 460.8, fp16TFLOPS: 7.37, int8TOPS: 29.5,
             cores: 96, aliases: ["amd-epyc-9654", "genoa"],
             source: "AMD EPYC 9654 product page: 96 cores, 2.4 GHz base, 12 × DDR5-4800 (460.8 GB/s); 12 × 64 GB RAM"),
    Hardware(name: "xeon-8480", kind: .cpu, memoryGiB: 512, bandwidthGBps: 307.2, fp16TFLOPS: 7.17, int8TOPS: 28.7,
             cores: 56, aliases: ["xeon-platinum-8480+", "xeon-8480+", "sapphire-rapids"],
             source: "Intel Xeon Platinum 8480+ (ark.intel.com): 56 cores, 2.0 GHz base, 8 × DDR5-4800 (307.2 GB/s); 8 × 64 GB RAM"),
  ]

  /// The name `--cpu` with no value resolves to: this machine, as calibrated.
  public static let thisMachine = "this-machine"

  public var names: [String] { entries.map(\.name) }

  /// Finds an entry by name or alias, case-insensitively; `field` names the flag in the error.
  public func find(_ name: String, field: String, kind: Hardware.Kind? = nil) throws(PlannerError) -> Hardware {
    let key = Names.normalize(name)
    let pool = entries.filter { kind == nil || $0.kind == kind }
    if let h = pool.last(where: { Names.normalize($0.name) == key || ($0.aliases ?? []).map(Names.normalize).contains(key) }) {
      return h
    }
    if let other = entries.first(where: { Names.normalize($0.name) == key || ($0.aliases ?? []).map(Names.normalize).contains(key) }) {
      let flag = other.kind == .gpu ? "--gpu" : "--cpu"
      throw .invalid(field: field, "'\(name)' is a \(other.kind.rawValue.uppercased()): use \(flag) \(other.name)")
    }
    throw .unknownHardware(field: field, name, suggestions: Names.closest(to: name, in: pool.map(\.name)))
  }

  /// Adds a file's entries. An entry whose name is already known replaces it, so a file can correct
  /// a built-in figure or add a price. The file is `{"hardware": [...]}` or a bare array.
  public mutating func load(path: String) throws(PlannerError) {
    let data: Data
    do { data = try Data(contentsOf: URL(fileURLWithPath: path)) } catch {
      throw .badCatalog(path: path, "cannot read: \(error.localizedDescription)")
    }
    let list: [Hardware]
    do {
      if (try? JSONSerialization.jsonObject(with: data)) is [String: Any] {
        list = try JSONDecoder().decode(CatalogFile.self, from: data).hardware
      } else {
        list = try JSONDecoder().decode([Hardware].self, from: data)
      }
    } catch {
      throw .badCatalog(path: path, Self.describe(error))
    }
    if list.isEmpty { throw .badCatalog(path: path, "no hardware entries") }
    for (i, h) in list.enumerated() {
      if let why = h.validate("entry \(i + 1) ('\(h.name)')") { throw .badCatalog(path: path, why) }
      var h = h
      h.name = Names.normalize(h.name)
      entries.removeAll { Names.normalize($0.name) == h.name }
      entries.append(h)
    }
  }

  struct CatalogFile: Decodable { var hardware: [Hardware] }

  /// One line naming the JSON key at fault, e.g. `entry 2: bandwidth_gbps is missing`.
  static func describe(_ error: Error) -> String {
    func path(_ c: [CodingKey]) -> String {
      var entry: String? = nil, keys: [String] = []
      for k in c {
        if let i = k.intValue { entry = "entry \(i + 1)" } else if !(k.stringValue == "hardware" && keys.isEmpty) { keys.append(k.stringValue) }
      }
      return [entry, keys.isEmpty ? nil : keys.joined(separator: ".")].compactMap { $0 }.joined(separator: ": ")
    }
    switch error as? DecodingError {
    case .keyNotFound(let k, let ctx)?: return "\(path(ctx.codingPath + [k])) is missing"
    case .typeMismatch(_, let ctx)?: return "\(path(ctx.codingPath)) has the wrong type (\(ctx.debugDescription))"
    case .valueNotFound(_, let ctx)?: return "\(path(ctx.codingPath)) is null"
    case .dataCorrupted(let ctx)?:
      return ctx.codingPath.isEmpty ? "not valid JSON" : "\(path(ctx.codingPath)): \(ctx.debugDescription)"
    default: return "\(error)"
    }
  }
}

import Foundation
import GGUF

/// What a pruning wrote.
public struct PruneSummary: Sendable {
  public let architecture: String
  public let layersBefore: Int
  public let dropped: [Int]
  /// New index -> old index of every kept layer.
  public let kept: [Int]
  public let tensorsWritten: Int
  public let outputBytes: Int
  /// Gemma 3 style models: kept layers whose local/global (sliding window) kind changed because
  /// the kind follows the layer's new index. Empty when the pattern is preserved.
  public let kindChanged: [Int]
}

/// Drops whole transformer blocks: the `blk.N.*` tensors of the dropped layers go, the rest are
/// renumbered densely, `<arch>.block_count` shrinks, and per-layer metadata arrays (an
/// `<arch>.*` array with one entry per layer) lose the dropped entries. Tensor bytes are copied
/// unchanged. As in llama-quantize's `--prune-layers`.
public enum Pruner {
  /// Parses `3,7-9` into sorted layer indices.
  public static func parseLayers(_ s: String) throws(LifecycleError) -> [Int] {
    var out = Set<Int>()
    for part in s.split(separator: ",", omittingEmptySubsequences: false) {
      let p = part.trimmingCharacters(in: .whitespaces)
      if p.isEmpty { throw .badLayerList(s, reason: "empty entry") }
      let ends = p.split(separator: "-", omittingEmptySubsequences: false)
      guard ends.count <= 2, let a = Int(ends[0]), a >= 0, let b = Int(ends.last!), b >= a, b - a < 1_000_000 else {
        throw .badLayerList(s, reason: "'\(p)' is not a layer or a range like 7-9")
      }
      for l in a...b { out.insert(l) }
    }
    return out.sorted()
  }

  public static func prune(input: String, output: String, drop: [Int], progress: ProgressHandler? = nil) throws(LifecycleError) -> PruneSummary {
    let file = try Quantizer.openInput(input)
    try Quantizer.checkDistinct(input, output)
    guard let arch = file.architecture else { throw .missingBlockCount(key: "general.architecture") }
    let countKey = "\(arch).block_count"
    guard let layers = file.int(countKey) else { throw .missingBlockCount(key: countKey) }
    for l in drop where l >= layers { throw .layerOutOfRange(layer: l, count: layers) }
    let dropped = Set(drop)
    guard dropped.count < layers else { throw .allLayersDropped(count: layers) }
    let kept = (0..<layers).filter { !dropped.contains($0) }
    var newIndex: [Int: Int] = [:]
    for (n, o) in kept.enumerated() { newIndex[o] = n }

    var w = GGUFWriter()
    w.copyMetadata(from: file)
    w.set(countKey, .uint32(UInt32(kept.count)))
    for key in file.metadataKeys where key.hasPrefix(arch + ".") {
      if case .array(let a) = file.metadata[key]!, a.count == layers, let filtered = keepEntries(a, kept) { w.set(key, .array(filtered)) }
    }

    var total = 0
    var written = 0
    var done = 0
    for t in file.tensors {
      var name = t.name
      if let layer = QuantizationPlan.layerIndex(t.name) {
        guard let n = newIndex[layer] else { continue }
        name = "blk.\(n)." + t.name.dropFirst("blk.\(layer).".count)
      }
      total += t.byteCount
      written += 1
      do {
        try w.addTensor(name: name, dims: t.dims, type: t.type) {
          done += t.byteCount
          progress?("writing", done, total)
          return Array(file.data(for: t))
        }
      } catch { throw .writeFailed(path: output, reason: error.description) }
    }
    progress?("writing", 0, total)
    try Quantizer.write(w, to: output)
    return PruneSummary(
      architecture: arch, layersBefore: layers, dropped: drop.sorted(), kept: kept, tensorsWritten: written,
      outputBytes: FileSize.of(output) ?? 0, kindChanged: kindChanges(file, arch: arch, kept: kept))
  }

  static func keepEntries(_ a: GGUFArray, _ kept: [Int]) -> GGUFArray? {
    switch a {
    case .uint8(let x): return .uint8(kept.map { x[$0] })
    case .int8(let x): return .int8(kept.map { x[$0] })
    case .uint16(let x): return .uint16(kept.map { x[$0] })
    case .int16(let x): return .int16(kept.map { x[$0] })
    case .uint32(let x): return .uint32(kept.map { x[$0] })
    case .int32(let x): return .int32(kept.map { x[$0] })
    case .float32(let x): return .float32(kept.map { x[$0] })
    case .bool(let x): return .bool(kept.map { x[$0] })
    case .uint64(let x): return .uint64(kept.map { x[$0] })
    case .int64(let x): return .int64(kept.map { x[$0] })
    case .float64(let x): return .float64(kept.map { x[$0] })
    case .string, .array: return nil
    }
  }

  /// Gemma 3 decides a layer's kind from its index ((i + 1) % pattern == 0 is global, the rest
  /// slide over a window with their own RoPE base). Renumbering moves that boundary, so a kept
  /// layer can switch kind; these are the new indices of those that do.
  static func kindChanges(_ file: GGUFFile, arch: String, kept: [Int]) -> [Int] {
    guard file["\(arch).attention.sliding_window"] != nil || arch == "gemma3" else { return [] }
    guard let pattern = file.int("\(arch).attention.sliding_window_pattern") ?? (arch == "gemma3" ? 6 : nil), pattern > 0 else { return [] }
    func global(_ i: Int) -> Bool { (i + 1) % pattern == 0 }
    return kept.enumerated().filter { global($0.offset) != global($0.element) }.map(\.offset)
  }
}

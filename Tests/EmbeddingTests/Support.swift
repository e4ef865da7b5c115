import Foundation
import Testing

/// Where the real models and the float64 references live.
enum Paths {
  static var models: String {
    ProcessInfo.processInfo.environment["HEARTH_MODELS"]
      ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../models").standardized.path
  }

  static var reference: String {
    ProcessInfo.processInfo.environment["HEARTH_REFERENCE"]
      ?? URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../Fixtures/reference").standardized.path
  }

  static var minilm: String { models + "/all-minilm-l6-v2" }
  static var smollm2: String { models + "/SmolLM2-135M-Instruct.Q4_1.gguf" }

  /// `path`, or a recorded failure naming what to run: a missing model must fail, never skip.
  static func require(_ path: String, sourceLocation: SourceLocation = #_sourceLocation) -> String? {
    if FileManager.default.fileExists(atPath: path) { return path }
    Issue.record("missing \(path): run scripts/fetch-models", sourceLocation: sourceLocation)
    return nil
  }

  /// A fresh temporary directory, removed by the caller.
  static func tempDir() throws -> String {
    let dir = NSTemporaryDirectory() + "hearth-emb-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
  }
}

/// Tests/Fixtures/reference (a copy of ../shared/reference)/minilm.json: sentence-transformers vectors from a float64 forward pass.
struct MiniLMReference: Decodable {
  struct Item: Decodable {
    let text: String
    let ids: [Int]
    let embedding: [Double]
  }
  struct Similarity: Decodable {
    let sentences: [String]
    let cosine_matrix: [[Double]]
  }
  let embeddings: [Item]
  let similarity_check: Similarity

  static func load(sourceLocation: SourceLocation = #_sourceLocation) throws -> MiniLMReference? {
    guard let p = Paths.require(Paths.reference + "/minilm.json", sourceLocation: sourceLocation) else { return nil }
    return try JSONDecoder().decode(MiniLMReference.self, from: Data(contentsOf: URL(fileURLWithPath: p)))
  }
}

func cosine(_ a: [Float], _ b: [Double]) -> Double {
  var dot = 0.0, na = 0.0, nb = 0.0
  for (x, y) in zip(a, b) {
    dot += Double(x) * y
    na += Double(x) * Double(x)
    nb += y * y
  }
  return dot / (na.squareRoot() * nb.squareRoot())
}

func cosine(_ a: [Float], _ b: [Float]) -> Double { cosine(a, b.map(Double.init)) }

func norm(_ a: [Float]) -> Double { a.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot() }

/// Builds safetensors bytes: an 8-byte little-endian length, the header text, the data.
struct RawSafeTensors {
  var header: String
  var data: [UInt8] = []
  /// Overrides the length field (nil: the header's real length).
  var lengthField: UInt64? = nil

  func bytes() -> [UInt8] {
    let h = Array(header.utf8)
    var out: [UInt8] = []
    withUnsafeBytes(of: (lengthField ?? UInt64(h.count)).littleEndian) { out += $0 }
    return out + h + data
  }

  /// A well-formed file holding `tensors` (F32 unless given) back to back; the header is padded
  /// with spaces to `pad` bytes (8 keeps the data aligned, as the safetensors library writes).
  static func make(_ tensors: [(name: String, shape: [Int], floats: [Float])], dtype: String = "F32", pad: Int = 8) -> RawSafeTensors {
    var entries: [String] = []
    var data: [UInt8] = []
    for t in tensors {
      let begin = data.count
      switch dtype {
      case "F16": for f in t.floats { withUnsafeBytes(of: Float16(f).bitPattern.littleEndian) { data += $0 } }
      case "BF16": for f in t.floats { withUnsafeBytes(of: UInt16(f.bitPattern >> 16).littleEndian) { data += $0 } }
      default: for f in t.floats { withUnsafeBytes(of: f.bitPattern.littleEndian) { data += $0 } }
      }
      entries.append("\"\(t.name)\":{\"dtype\":\"\(dtype)\",\"shape\":\(t.shape),\"data_offsets\":[\(begin),\(data.count)]}")
    }
    var header = "{\"__metadata__\":{\"format\":\"pt\"}" + entries.map { "," + $0 }.joined() + "}"
    while header.utf8.count % pad != 0 { header += " " }
    return RawSafeTensors(header: header, data: data)
  }

  func write(to path: String) throws {
    try Data(bytes()).write(to: URL(fileURLWithPath: path))
  }
}

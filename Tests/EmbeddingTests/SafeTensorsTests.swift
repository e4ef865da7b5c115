import Foundation
import GGUF
import Testing

/// The hardened safetensors reader: good files parse to the right bytes; every kind of bad
/// file is refused with the typed error that names it, never a crash.
@Suite struct SafeTensorsTests {
  static let good = RawSafeTensors.make([(name: "a", shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]), (name: "b", shape: [2], floats: [7, 8])])

  private func expectError(_ bytes: [UInt8], sourceLocation: SourceLocation = #_sourceLocation, _ match: (SafeTensorsError) -> Bool) {
    do {
      _ = try SafeTensorsFile(bytes: bytes)
      Issue.record("parsed a bad file", sourceLocation: sourceLocation)
    } catch {
      #expect(match(error), "wrong error: \(error)", sourceLocation: sourceLocation)
      #expect(!error.description.isEmpty, sourceLocation: sourceLocation)
    }
  }

  /// A header with one F32 tensor entry spelled out by hand, and `dataBytes` bytes of data.
  private func one(_ entry: String, dataBytes: Int = 8) -> [UInt8] {
    RawSafeTensors(header: "{\"t\":\(entry)}", data: [UInt8](repeating: 0, count: dataBytes)).bytes()
  }

  @Test func parsesGoodFile() throws {
    let f = try SafeTensorsFile(bytes: Self.good.bytes())
    #expect(f.metadata == ["format": "pt"])
    #expect(f.tensors.map(\.name) == ["a", "b"])
    let a = try f.requireTensor("a")
    #expect(a.shape == [2, 3] && a.dtype == .f32 && a.byteCount == 24 && a.elementCount == 6)
    #expect(try f.requireFloat(a) == .f32)
    let floats = Array(f.data(for: try f.requireTensor("b")).bindMemory(to: Float.self))
    #expect(floats == [7, 8])
    #expect(f.dataOffset % 8 == 0)
  }

  @Test func acceptsEscapesScalarsAndEmptyTensors() throws {
    let header = #"{"caf\u00e9 \ud83e\udd99":{"dtype":"F16","shape":[],"data_offsets":[0,2]},"z":{"dtype":"U8","shape":[0,4],"data_offsets":[2,2]}}"#
    let f = try SafeTensorsFile(bytes: RawSafeTensors(header: header + "   ", data: [0, 60]).bytes())
    let t = try #require(f.tensor(named: "café 🦙"))
    #expect(t.shape == [] && t.elementCount == 1 && t.dtype == .f16)
    #expect(f.tensor(named: "z")?.byteCount == 0)
  }

  @Test func readsTheRealModel() throws {
    guard let p = Paths.require(Paths.minilm + "/model.safetensors") else { return }
    let f = try SafeTensorsFile(path: p)
    #expect(f.tensors.count == 104)  // 101 weights, position_ids and the unused pooler
    let w = try f.requireTensor("embeddings.word_embeddings.weight")
    #expect(w.shape == [30522, 384] && w.dtype == .f32)
    // position_ids is I64: known (its size is checked) but not a weight the engine computes with.
    let ids = try f.requireTensor("embeddings.position_ids")
    #expect(throws: SafeTensorsError.unsupportedDType(tensor: "embeddings.position_ids", dtype: "I64")) { try f.requireFloat(ids) }
  }

  @Test func refusesBadPaths() {
    #expect { try SafeTensorsFile(path: "/nonexistent/model.safetensors") } throws: { e in
      if case .cannotOpen = e as? SafeTensorsError { return true } else { return false }
    }
    #expect(throws: SafeTensorsError.notAFile(path: "/tmp")) { try SafeTensorsFile(path: "/tmp") }
  }

  @Test func refusesShortFilesAndBadLengths() {
    expectError([]) { $0 == .tooSmall(size: 0) }
    expectError([1, 2, 3, 4, 5]) { $0 == .tooSmall(size: 5) }
    var r = Self.good
    r.lengthField = UInt64(r.header.utf8.count + r.data.count + 1)
    expectError(r.bytes()) { if case .headerPastEnd = $0 { true } else { false } }
    r.lengthField = UInt64.max
    expectError(r.bytes()) { if case .headerTooLarge = $0 { true } else { false } }
    r.lengthField = 1
    expectError(r.bytes()) { if case .badHeaderJSON = $0 { true } else { false } }
  }

  @Test func refusesTruncatedData() {
    let b = Self.good.bytes()
    expectError(Array(b.dropLast(4))) { $0 == .tensorPastEnd(tensor: "b", end: 32, dataSize: 28) }
    // Cut inside the header: its length now runs past the end.
    expectError(Array(b.prefix(20))) { if case .headerPastEnd = $0 { true } else { false } }
  }

  @Test(arguments: [
    "{\"t\": ", "[1, 2]", "{} x", "{\"t\":{\"dtype\":\"F32\",}}", "{'t':1}", "{\"t\":tru}", "{\"a\":\"\u{1}\"}",
    "{\"t\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,99999999999999999999]}}",
    String(repeating: "{\"a\":", count: 20) + "1" + String(repeating: "}", count: 20),
    "{\"a\":\"\\ud800\"}", "{\"a\":\"\\q\"}", "{\"a\":01}",
  ])
  func refusesBadJSON(_ header: String) {
    expectError(RawSafeTensors(header: header).bytes()) { if case .badHeaderJSON = $0 { true } else { false } }
  }

  @Test func refusesInvalidUTF8() {
    var h = Array("{\"ab\":1}".utf8)
    h[2] = 0xFF
    var bytes: [UInt8] = []
    withUnsafeBytes(of: UInt64(h.count).littleEndian) { bytes += $0 }
    expectError(bytes + h) { if case .badHeaderJSON(let r, _) = $0 { r.contains("UTF-8") } else { false } }
  }

  @Test func refusesDuplicateNames() {
    let h = #"{"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}"#
    expectError(RawSafeTensors(header: h, data: [UInt8](repeating: 0, count: 8)).bytes()) {
      if case .duplicateKey(let k, _) = $0 { k == "t" } else { false }
    }
  }

  @Test func refusesBadEntries() {
    expectError(one(#"{"dtype":"F7","shape":[2],"data_offsets":[0,8]}"#)) { $0 == .unknownDType(tensor: "t", dtype: "F7") }
    expectError(one(#"{"shape":[2],"data_offsets":[0,8]}"#)) { $0 == .badEntry(tensor: "t", reason: "missing 'dtype'") }
    expectError(one(#"{"dtype":"F32","data_offsets":[0,8]}"#)) { $0 == .badEntry(tensor: "t", reason: "missing 'shape'") }
    expectError(one(#"{"dtype":"F32","shape":[2]}"#)) { $0 == .badEntry(tensor: "t", reason: "missing 'data_offsets'") }
    expectError(one(#"{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}"#)) { if case .badEntry = $0 { true } else { false } }
    expectError(one(#"{"dtype":"F32","shape":[2.5],"data_offsets":[0,8]}"#)) { if case .badEntry = $0 { true } else { false } }
    expectError(one(#"{"dtype":"F32","shape":"2","data_offsets":[0,8]}"#)) { if case .badEntry = $0 { true } else { false } }
    expectError(one(#"{"dtype":"F32","shape":[2],"data_offsets":[0]}"#)) { if case .badEntry = $0 { true } else { false } }
    expectError(one(#"{"dtype":"F32","shape":[2],"data_offsets":[0,8],"extra":1}"#)) { if case .badEntry = $0 { true } else { false } }
    expectError(one("[1]")) { $0 == .badEntry(tensor: "t", reason: "entry is not an object") }
    expectError(one(#"{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}"#)) { $0 == .tooManyDimensions(tensor: "t", count: 9) }
    expectError(one(#"{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}"#)) { $0 == .elementCountOverflow(tensor: "t") }
    expectError(one(#"{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,8]}"#)) { $0 == .elementCountOverflow(tensor: "t") }
    let meta = #"{"__metadata__":{"n":1},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    expectError(RawSafeTensors(header: meta, data: [UInt8](repeating: 0, count: 8)).bytes()) { if case .badEntry(let t, _) = $0 { t == "__metadata__" } else { false } }
    let empty = #"{"":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}"#
    expectError(RawSafeTensors(header: empty, data: [UInt8](repeating: 0, count: 8)).bytes()) { if case .badEntry = $0 { true } else { false } }
  }

  @Test func refusesBadOffsets() {
    // Past the end of the data.
    expectError(one(#"{"dtype":"F32","shape":[2],"data_offsets":[8,16]}"#)) { $0 == .tensorPastEnd(tensor: "t", end: 16, dataSize: 8) }
    // Inconsistent with shape x dtype.
    expectError(one(#"{"dtype":"F32","shape":[3],"data_offsets":[0,8]}"#)) { $0 == .sizeMismatch(tensor: "t", expected: 12, found: 8) }
    expectError(one(#"{"dtype":"F16","shape":[2],"data_offsets":[0,8]}"#)) { $0 == .sizeMismatch(tensor: "t", expected: 4, found: 8) }
    // Begin after end.
    expectError(one(#"{"dtype":"F32","shape":[2],"data_offsets":[8,0]}"#)) { $0 == .badOffsets(tensor: "t", begin: 8, end: 0) }
    // Overlapping.
    let overlap = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}"#
    expectError(RawSafeTensors(header: overlap, data: [UInt8](repeating: 0, count: 12)).bytes()) { $0 == .overlappingTensors("a", "b") }
    let same = #"{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}}"#
    expectError(RawSafeTensors(header: same, data: [UInt8](repeating: 0, count: 8)).bytes()) { if case .overlappingTensors = $0 { true } else { false } }
    // A gap, and bytes after the last tensor.
    expectError(one(#"{"dtype":"F32","shape":[1],"data_offsets":[4,8]}"#)) { $0 == .gap(before: "t", offset: 0) }
    expectError(one(#"{"dtype":"F32","shape":[1],"data_offsets":[0,4]}"#)) { $0 == .trailingBytes(count: 4) }
  }

  /// Every single-byte truncation and a sweep of byte flips of a good file: each either parses
  /// or throws; none may crash or read outside the buffer.
  @Test func survivesMutations() {
    let b = Self.good.bytes()
    for n in 0..<b.count { _ = try? SafeTensorsFile(bytes: Array(b.prefix(n))) }
    for i in 0..<b.count {
      for v: UInt8 in [0, 0x22, 0x2C, 0x5B, 0x7D, 0xFF] {
        var m = b
        m[i] = v
        _ = try? SafeTensorsFile(bytes: m)
      }
    }
  }
}

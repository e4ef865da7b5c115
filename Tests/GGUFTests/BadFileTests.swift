import Foundation
import Testing

@testable import GGUF

/// Builds GGUF bytes field by field, so each test can break exactly one thing.
struct RawGGUF {
  var magic: UInt32 = GGUFFile.magic
  var version: UInt32 = 3
  var tensorCount: UInt64? = nil  // nil: the real count
  var kvCount: UInt64? = nil
  var kvs: [[UInt8]] = []
  var tensorInfos: [[UInt8]] = []
  var data: [UInt8] = []
  var alignment = 32

  mutating func kv(_ key: String, _ value: GGUFValue) {
    var b: [UInt8] = []
    b.appendString(key)
    b.append(le: value.type.rawValue)
    b.appendValue(value)
    kvs.append(b)
  }

  mutating func kvRaw(_ key: String, type: UInt32, payload: [UInt8]) {
    var b: [UInt8] = []
    b.appendString(key)
    b.append(le: type)
    b += payload
    kvs.append(b)
  }

  mutating func tensor(_ name: String, dims: [UInt64], type: UInt32 = GGMLType.f32.rawValue, offset: UInt64) {
    var b: [UInt8] = []
    b.appendString(name)
    b.append(le: UInt32(dims.count))
    for d in dims { b.append(le: d) }
    b.append(le: type)
    b.append(le: offset)
    tensorInfos.append(b)
  }

  func bytes() -> [UInt8] {
    var out: [UInt8] = []
    out.append(le: magic)
    out.append(le: version)
    out.append(le: tensorCount ?? UInt64(tensorInfos.count))
    out.append(le: kvCount ?? UInt64(kvs.count))
    for k in kvs { out += k }
    for t in tensorInfos { out += t }
    while out.count % alignment != 0 { out.append(0) }
    return out + data
  }
}

private func parse(_ raw: RawGGUF) throws(GGUFError) -> GGUFFile { try GGUFFile(bytes: raw.bytes()) }

private func expectError(_ raw: RawGGUF, _ match: (GGUFError) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) {
  do {
    _ = try parse(raw)
    Issue.record("expected a GGUFError, parsed fine", sourceLocation: sourceLocation)
  } catch {
    #expect(match(error), "wrong error: \(error)", sourceLocation: sourceLocation)
    #expect(!error.description.isEmpty)
  }
}

/// A small valid file: two F32 tensors and some metadata.
private func valid() -> RawGGUF {
  var r = RawGGUF()
  r.kv("general.architecture", .string("llama"))
  r.kv("test.count", .uint32(7))
  r.tensor("a", dims: [4, 2], offset: 0)
  r.tensor("b", dims: [8], offset: 32)
  r.data = [UInt8](repeating: 1, count: 64)
  return r
}

@Suite struct HeaderTests {
  @Test func validBaselineParses() throws {
    let f = try parse(valid())
    #expect(f.tensors.count == 2)
    #expect(f.string("general.architecture") == "llama")
    #expect(f.tensor(named: "b")?.byteCount == 32)
  }

  @Test func badMagic() {
    var r = valid(); r.magic = 0x4C4C_4747
    expectError(r) { if case .badMagic = $0 { true } else { false } }
  }

  @Test(arguments: [UInt32(0), 1, 4, 99])
  func unsupportedVersions(_ v: UInt32) {
    var r = valid(); r.version = v
    expectError(r) { $0 == .unsupportedVersion(v) }
  }

  @Test func byteSwappedVersion() {
    var r = valid(); r.version = UInt32(3).byteSwapped
    expectError(r) { $0 == .byteSwapped(version: 3) }
  }

  @Test func hugeTensorCount() {
    var r = valid(); r.tensorCount = UInt64.max
    expectError(r) { if case .tooManyTensors = $0 { true } else { false } }
  }

  @Test func hugeKeyCount() {
    var r = valid(); r.kvCount = 1 << 40
    expectError(r) { if case .tooManyKeys = $0 { true } else { false } }
  }

  @Test func stringLengthPastEnd() {
    var r = valid()
    var b: [UInt8] = []
    b.append(le: UInt64(1 << 50))  // key length far past the end
    b += Array("x".utf8)
    r.kvs.insert(b, at: 0)
    expectError(r) { if case .stringTooLong = $0 { true } else { false } }
  }

  @Test func tooSmallAndEmpty() {
    #expect(throws: GGUFError.tooSmall(size: 0)) { try GGUFFile(bytes: []) }
    #expect(throws: GGUFError.tooSmall(size: 4)) { try GGUFFile(bytes: Array("GGUF".utf8)) }
  }

  @Test func version2Parses() throws {
    var r = valid(); r.version = 2
    #expect(try parse(r).version == 2)
  }
}

@Suite struct MetadataTests {
  @Test func emptyKey() {
    var r = valid(); r.kv("", .uint8(1))
    expectError(r) { if case .emptyKey = $0 { true } else { false } }
  }

  @Test func duplicateKey() {
    var r = valid(); r.kv("test.count", .uint32(8))
    expectError(r) { $0 == .duplicateKey("test.count") }
  }

  @Test func unknownValueType() {
    var r = valid(); r.kvRaw("weird", type: 13, payload: [0, 0, 0, 0])
    expectError(r) { $0 == .unknownValueType(key: "weird", type: 13) }
  }

  @Test func unknownArrayElementType() {
    var p: [UInt8] = []
    p.append(le: UInt32(77)); p.append(le: UInt64(1))
    var r = valid(); r.kvRaw("arr", type: GGUFValueType.array.rawValue, payload: p)
    expectError(r) { $0 == .unknownValueType(key: "arr", type: 77) }
  }

  @Test func hugeArrayCount() {
    var p: [UInt8] = []
    p.append(le: GGUFValueType.uint32.rawValue); p.append(le: UInt64(1) << 61)
    var r = valid(); r.kvRaw("arr", type: GGUFValueType.array.rawValue, payload: p)
    expectError(r) { if case .arrayTooLong = $0 { true } else { false } }
  }

  @Test(arguments: [UInt32(0), 3, 48, 1 << 31])
  func badAlignment(_ a: UInt32) {
    var r = valid(); r.kv("general.alignment", .uint32(a))
    expectError(r) { if case .badAlignment = $0 { true } else { false } }
  }

  @Test func alignmentOfWrongType() {
    var r = valid(); r.kv("general.alignment", .string("32"))
    expectError(r) { if case .wrongValueType(key: "general.alignment", _) = $0 { true } else { false } }
  }

  @Test func invalidUTF8() {
    var r = valid()
    var b: [UInt8] = []
    b.append(le: UInt64(2)); b += [0xC3, 0x28]
    b.append(le: GGUFValueType.uint8.rawValue); b.append(1)
    r.kvs.append(b)
    expectError(r) { if case .invalidUTF8 = $0 { true } else { false } }
  }

  @Test func nestedArraysOfEveryTypeRoundTrip() throws {
    var w = GGUFWriter()
    let values: [(String, GGUFValue)] = [
      ("u8", .uint8(200)), ("i8", .int8(-5)), ("u16", .uint16(60000)), ("i16", .int16(-3000)),
      ("u32", .uint32(4_000_000_000)), ("i32", .int32(-7)), ("f32", .float32(1.5)), ("b", .bool(true)),
      ("s", .string("héllo 🦙")), ("u64", .uint64(.max)), ("i64", .int64(.min)), ("f64", .float64(-2.25)),
      ("arr.f", .array(.float32([1, 2, 3]))), ("arr.s", .array(.string(["a", "", "ü"]))),
      ("arr.nested", .array(.array([.int32([1, 2]), .int32([]), .int32([3])]))),
      ("arr.deep", .array(.array([.array([.string(["x"])])]))),
      ("arr.bool", .array(.bool([true, false]))), ("arr.empty", .array(.uint8([]))),
    ]
    for (k, v) in values { w.set(k, v) }
    try w.addTensor(name: "t", dims: [3], floats: [1, 2, 3])
    let f = try GGUFFile(bytes: w.bytes())
    for (k, v) in values { #expect(f.metadata[k] == v, "\(k)") }
    #expect(f.metadataKeys == values.map(\.0))
  }

  @Test func arraysNestedTooDeep() {
    var p: [UInt8] = []
    for _ in 0..<10 { p.append(le: GGUFValueType.array.rawValue); p.append(le: UInt64(1)) }
    p.append(le: GGUFValueType.uint8.rawValue); p.append(le: UInt64(0))
    var r = valid(); r.kvRaw("deep", type: GGUFValueType.array.rawValue, payload: p)
    expectError(r) { $0 == .arrayNestedTooDeep(key: "deep") }
  }
}

@Suite struct TensorTests {
  @Test func tooManyDimensions() {
    var r = valid(); r.tensor("c", dims: [1, 1, 1, 1, 1], offset: 64)
    expectError(r) { $0 == .badDimensionCount(tensor: "c", count: 5) }
  }

  @Test func zeroDimensions() {
    var r = valid(); r.tensor("c", dims: [], offset: 64)
    expectError(r) { $0 == .badDimensionCount(tensor: "c", count: 0) }
  }

  @Test func zeroDimension() {
    var r = valid(); r.tensor("c", dims: [4, 0], offset: 64)
    expectError(r) { $0 == .zeroDimension(tensor: "c", axis: 1) }
  }

  @Test func elementCountOverflow() {
    var r = valid(); r.tensor("c", dims: [1 << 32, 1 << 32], offset: 64)
    expectError(r) { $0 == .elementCountOverflow(tensor: "c") }
  }

  @Test func byteSizeOverflow() {
    // 2^61 f32 elements fit in an Int, but their byte size (2^63) does not.
    var r = valid(); r.tensor("c", dims: [1 << 31, 1 << 30], offset: 64)
    expectError(r) { $0 == .byteSizeOverflow(tensor: "c") }
  }

  @Test func rowNotBlockMultiple() {
    var r = valid(); r.tensor("c", dims: [33, 2], type: GGMLType.q4_0.rawValue, offset: 64)
    expectError(r) { if case .rowNotBlockMultiple(tensor: "c", rowLength: 33, blockSize: 32, _) = $0 { true } else { false } }
  }

  @Test func unknownType() {
    var r = valid(); r.tensor("c", dims: [4], type: 31, offset: 64)
    expectError(r) { $0 == .unknownTensorType(tensor: "c", type: 31) }
  }

  @Test func duplicateName() {
    var r = valid(); r.tensor("a", dims: [4], offset: 64)
    expectError(r) { $0 == .duplicateTensor("a") }
  }

  @Test func emptyName() {
    var r = valid(); r.tensor("", dims: [4], offset: 64)
    expectError(r) { $0 == .emptyTensorName(index: 2) }
  }

  @Test func dataPastEnd() {
    var r = valid(); r.tensor("c", dims: [16], offset: 64)
    expectError(r) { if case .tensorPastEnd(tensor: "c", _, _) = $0 { true } else { false } }
  }

  @Test func offsetNearUInt64Max() {
    var r = valid(); r.tensor("c", dims: [8], offset: UInt64.max - 31)
    expectError(r) { if case .tensorPastEnd(tensor: "c", _, _) = $0 { true } else { false } }
  }

  @Test func overlap() {
    var r = valid(); r.tensor("c", dims: [8], offset: 0)
    expectError(r) { if case .overlappingTensors = $0 { true } else { false } }
  }

  @Test func misaligned() {
    var r = valid(); r.tensor("c", dims: [1], offset: 36)
    r.data += [UInt8](repeating: 0, count: 64)
    expectError(r) { $0 == .misalignedTensor(tensor: "c", offset: 36, alignment: 32) }
  }

  @Test func truncatedAtEveryByte() throws {
    // Cutting a valid file anywhere must give an error (or, once only padding/data is cut, a
    // past-the-end error), never a crash.
    let full = valid().bytes()
    for n in 0..<(full.count - 1) {
      #expect(throws: GGUFError.self) { try GGUFFile(bytes: Array(full[0..<n])) }
    }
  }

  @Test func randomCorruptionNeverCrashes() {
    let full = valid().bytes()
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<3000 {
      var b = full
      for _ in 0..<Int.random(in: 1...4, using: &rng) {
        b[Int.random(in: 0..<b.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
      }
      _ = try? GGUFFile(bytes: b)
    }
  }

  @Test func mmapMissingFileAndDirectory() throws {
    #expect(throws: GGUFError.self) { try GGUFFile(path: "/nonexistent/model.gguf") }
    #expect(throws: GGUFError.notAFile(path: "/tmp")) { try GGUFFile(path: "/tmp") }
  }
}

@Suite struct WriterTests {
  @Test func writeAndReadBack() throws {
    var w = GGUFWriter()
    w.set("general.architecture", .string("llama"))
    w.set("general.alignment", .uint32(64))
    try w.addTensor(name: "x", dims: [3, 2], floats: [1, 2, 3, 4, 5, 6])
    try w.addTensor(name: "q", dims: [32], type: .q8_0, bytes: [UInt8](repeating: 7, count: 34))
    let path = NSTemporaryDirectory() + "hearth-writer-\(getpid()).gguf"
    defer { unlink(path) }
    try w.write(to: path)
    let f = try GGUFFile(path: path)
    #expect(f.alignment == 64)
    #expect(f.dataOffset % 64 == 0)
    let x = try f.requireTensor("x")
    #expect(x.dims == [3, 2])
    let floats = Array(f.data(for: x).bindMemory(to: Float.self))
    #expect(floats == [1, 2, 3, 4, 5, 6])
    let q = try f.requireTensor("q")
    #expect(q.offset % 64 == 0)
    #expect(Array(f.data(for: q)) == [UInt8](repeating: 7, count: 34))
  }

  @Test func writerRejectsBadRowLength() {
    var w = GGUFWriter()
    #expect(throws: GGUFError.self) { try w.addTensor(name: "q", dims: [31], type: .q8_0, bytes: []) }
  }
}

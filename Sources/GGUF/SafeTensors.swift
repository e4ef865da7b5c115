#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Element types a safetensors header may name. All are known, so that every tensor's byte size
/// can be checked; only F32, F16 and BF16 can be read as weights (`requireFloat`).
public enum SafeTensorsDType: String, Sendable, CaseIterable {
  case bool = "BOOL", u8 = "U8", i8 = "I8", f8e4m3 = "F8_E4M3", f8e5m2 = "F8_E5M2"
  case i16 = "I16", u16 = "U16", f16 = "F16", bf16 = "BF16"
  case i32 = "I32", u32 = "U32", f32 = "F32"
  case i64 = "I64", u64 = "U64", f64 = "F64"

  public var byteSize: Int {
    switch self {
    case .bool, .u8, .i8, .f8e4m3, .f8e5m2: return 1
    case .i16, .u16, .f16, .bf16: return 2
    case .i32, .u32, .f32: return 4
    case .i64, .u64, .f64: return 8
    }
  }

  /// The ggml type holding the same bits, for the float types the engine computes with.
  public var ggmlType: GGMLType? {
    switch self {
    case .f32: return .f32
    case .f16: return .f16
    case .bf16: return .bf16
    default: return nil
    }
  }
}

/// One tensor's header entry. `shape` is row-major as PyTorch writes it (last axis fastest);
/// `begin`/`end` are relative to the data section.
public struct SafeTensorInfo: Sendable, Equatable {
  public let name: String
  public let dtype: SafeTensorsDType
  public let shape: [Int]
  public let begin: Int
  public let end: Int

  public var byteCount: Int { end - begin }
  public var elementCount: Int { shape.reduce(1, *) }
}

/// A parsed, validated safetensors file whose tensor bytes stay in the mapped file.
///
/// Every structural check happens in `init`, as the reference implementation makes them: the
/// header length and JSON, each entry's dtype, shape and offsets, and that the tensors tile the
/// data section exactly (no overlap, no gap, nothing after the last one).
public final class SafeTensorsFile: @unchecked Sendable {
  /// The reference implementation's cap; real headers are a few hundred KB at most.
  public static let maxHeaderBytes = 100_000_000
  static let maxDims = 8

  public let path: String?
  /// `__metadata__`: free-form string pairs (e.g. `format: pt`).
  public let metadata: [String: String]
  /// Tensors in header order.
  public let tensors: [SafeTensorInfo]
  /// Absolute offset of the data section (8 + header length).
  public let dataOffset: Int
  public let fileSize: Int

  private let mapping: Mapping
  private let index: [String: Int]

  public convenience init(path: String) throws(SafeTensorsError) {
    try self.init(mapping: Mapping(path: path), path: path)
  }

  /// Parses an in-memory copy (tests).
  public convenience init(bytes: [UInt8]) throws(SafeTensorsError) {
    try self.init(mapping: Mapping(copying: bytes), path: nil)
  }

  private init(mapping: Mapping, path: String?) throws(SafeTensorsError) {
    self.mapping = mapping
    self.path = path
    let buf = mapping.buffer
    fileSize = buf.count
    guard buf.count >= 8 else { throw .tooSmall(size: buf.count) }
    let n = UInt64(littleEndian: buf.loadUnaligned(as: UInt64.self))
    guard n <= UInt64(Self.maxHeaderBytes) else { throw .headerTooLarge(length: n, limit: Self.maxHeaderBytes) }
    guard n <= UInt64(buf.count - 8) else { throw .headerPastEnd(length: n, fileSize: buf.count) }
    guard n >= 2 else { throw .badHeaderJSON(reason: "the header is \(n) bytes, too short for an object", offset: 8) }
    dataOffset = 8 + Int(n)
    let json = try HeaderJSONParser.parse(UnsafeRawBufferPointer(rebasing: buf[8..<dataOffset]), fileOffset: 8)
    guard case .object(let entries) = json else { throw .badHeaderJSON(reason: "the header must be a JSON object", offset: 8) }

    var meta: [String: String] = [:]
    var infos: [SafeTensorInfo] = []
    var idx: [String: Int] = [:]
    for (name, value) in entries {
      if name == "__metadata__" {
        meta = try Self.metadata(value)
        continue
      }
      guard !name.isEmpty else { throw .badEntry(tensor: name, reason: "empty tensor name") }
      idx[name] = infos.count
      infos.append(try Self.entry(name, value, dataSize: buf.count - dataOffset))
    }
    try Self.checkPlacement(infos, dataSize: buf.count - dataOffset)
    metadata = meta
    tensors = infos
    index = idx
  }

  private static func metadata(_ v: HeaderJSON) throws(SafeTensorsError) -> [String: String] {
    guard case .object(let pairs) = v else { throw .badEntry(tensor: "__metadata__", reason: "must be an object of strings") }
    var out: [String: String] = [:]
    for (k, x) in pairs {
      guard case .string(let s) = x else { throw .badEntry(tensor: "__metadata__", reason: "value of '\(k)' is not a string") }
      out[k] = s
    }
    return out
  }

  private static func entry(_ name: String, _ v: HeaderJSON, dataSize: Int) throws(SafeTensorsError) -> SafeTensorInfo {
    guard case .object(let fields) = v else { throw .badEntry(tensor: name, reason: "entry is not an object") }
    var dtypeText: String?, shapeJSON: [HeaderJSON]?, offsetsJSON: [HeaderJSON]?
    for (k, x) in fields {
      switch (k, x) {
      case ("dtype", .string(let s)): dtypeText = s
      case ("shape", .array(let a)): shapeJSON = a
      case ("data_offsets", .array(let a)): offsetsJSON = a
      case ("dtype", _), ("shape", _), ("data_offsets", _): throw .badEntry(tensor: name, reason: "'\(k)' has the wrong JSON type")
      default: throw .badEntry(tensor: name, reason: "unknown field '\(k)'")
      }
    }
    guard let dtypeText else { throw .badEntry(tensor: name, reason: "missing 'dtype'") }
    guard let shapeJSON else { throw .badEntry(tensor: name, reason: "missing 'shape'") }
    guard let offsetsJSON else { throw .badEntry(tensor: name, reason: "missing 'data_offsets'") }
    guard let dtype = SafeTensorsDType(rawValue: dtypeText) else { throw .unknownDType(tensor: name, dtype: dtypeText) }
    guard shapeJSON.count <= maxDims else { throw .tooManyDimensions(tensor: name, count: shapeJSON.count) }

    // Elements and bytes in UInt64 with overflow checks: a dimension is bounded by nothing but
    // the file, so the products are checked before they become Ints.
    var shape: [Int] = []
    var elements: UInt64 = 1
    for d in shapeJSON {
      guard case .integer(let x) = d else { throw .badEntry(tensor: name, reason: "shape holds a non-integer or negative value") }
      let (p, o) = elements.multipliedReportingOverflow(by: x)
      guard !o, x <= UInt64(Int.max), p <= UInt64(Int.max) else { throw .elementCountOverflow(tensor: name) }
      elements = p
      shape.append(Int(x))
    }
    let (bytes, o) = elements.multipliedReportingOverflow(by: UInt64(dtype.byteSize))
    guard !o, bytes <= UInt64(Int.max) else { throw .elementCountOverflow(tensor: name) }

    guard offsetsJSON.count == 2, case .integer(let begin) = offsetsJSON[0], case .integer(let end) = offsetsJSON[1] else {
      throw .badEntry(tensor: name, reason: "'data_offsets' must be two non-negative integers")
    }
    guard begin <= end else { throw .badOffsets(tensor: name, begin: begin, end: end) }
    guard end - begin == bytes else { throw .sizeMismatch(tensor: name, expected: bytes, found: end - begin) }
    guard end <= UInt64(dataSize) else { throw .tensorPastEnd(tensor: name, end: end, dataSize: dataSize) }
    return SafeTensorInfo(name: name, dtype: dtype, shape: shape, begin: Int(begin), end: Int(end))
  }

  /// The tensors, sorted by offset, must tile the data section exactly.
  private static func checkPlacement(_ infos: [SafeTensorInfo], dataSize: Int) throws(SafeTensorsError) {
    let sorted = infos.sorted { ($0.begin, $0.end) < ($1.begin, $1.end) }
    var covered = 0
    var previous: String? = nil
    for t in sorted {
      if t.begin < covered, let previous { throw .overlappingTensors(previous, t.name) }
      if t.begin > covered { throw .gap(before: t.name, offset: covered) }
      covered = t.end
      previous = t.name
    }
    if covered != dataSize { throw .trailingBytes(count: dataSize - covered) }
  }

  // MARK: - Access

  public func tensor(named name: String) -> SafeTensorInfo? { index[name].map { tensors[$0] } }

  public func requireTensor(_ name: String) throws(SafeTensorsError) -> SafeTensorInfo {
    guard let t = tensor(named: name) else { throw .missingTensor(name) }
    return t
  }

  /// The tensor's bytes, inside the mapped file.
  public func data(for t: SafeTensorInfo) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: mapping.buffer[(dataOffset + t.begin)..<(dataOffset + t.end)])
  }

  /// The tensor's ggml type, or a typed error for the dtypes the engine cannot compute with.
  public func requireFloat(_ t: SafeTensorInfo) throws(SafeTensorsError) -> GGMLType {
    guard let g = t.dtype.ggmlType else { throw .unsupportedDType(tensor: t.name, dtype: t.dtype.rawValue) }
    return g
  }
}

/// The file's bytes: a read-only private mapping, or a heap copy for tests.
private final class Mapping: @unchecked Sendable {
  let buffer: UnsafeRawBufferPointer
  private let mapped: Bool

  init(path: String) throws(SafeTensorsError) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notAFile(path: path) }
    let size = Int(st.st_size)
    guard size >= 8 else { throw .tooSmall(size: size) }
    guard let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0), p != MAP_FAILED else {
      throw .cannotOpen(path: path, reason: "mmap: " + String(cString: strerror(errno)))
    }
    buffer = UnsafeRawBufferPointer(start: p, count: size)
    mapped = true
  }

  init(copying bytes: [UInt8]) {
    let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
    if !bytes.isEmpty { bytes.withUnsafeBytes { p.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: bytes.count) } }
    buffer = UnsafeRawBufferPointer(start: p.baseAddress, count: bytes.count)
    mapped = false
  }

  deinit {
    if mapped {
      munmap(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count)
    } else {
      UnsafeMutableRawPointer(mutating: buffer.baseAddress)?.deallocate()
    }
  }
}

/// Everything that can be wrong with a safetensors file; each case names the problem and where.
public enum SafeTensorsError: Error, Equatable, Sendable, CustomStringConvertible {
  case cannotOpen(path: String, reason: String)
  case notAFile(path: String)
  case tooSmall(size: Int)
  case headerTooLarge(length: UInt64, limit: Int)
  case headerPastEnd(length: UInt64, fileSize: Int)
  case badHeaderJSON(reason: String, offset: Int)
  case duplicateKey(key: String, offset: Int)
  case badEntry(tensor: String, reason: String)
  case unknownDType(tensor: String, dtype: String)
  case unsupportedDType(tensor: String, dtype: String)
  case tooManyDimensions(tensor: String, count: Int)
  case elementCountOverflow(tensor: String)
  case badOffsets(tensor: String, begin: UInt64, end: UInt64)
  case sizeMismatch(tensor: String, expected: UInt64, found: UInt64)
  case tensorPastEnd(tensor: String, end: UInt64, dataSize: Int)
  case overlappingTensors(String, String)
  case gap(before: String, offset: Int)
  case trailingBytes(count: Int)
  case missingTensor(String)

  public var description: String {
    switch self {
    case .cannotOpen(let p, let r): return "cannot open \(p): \(r)"
    case .notAFile(let p): return "\(p) is not a regular file"
    case .tooSmall(let n): return "not a safetensors file: only \(n) bytes"
    case .headerTooLarge(let n, let l): return "safetensors header length \(n) exceeds the limit of \(l) bytes"
    case .headerPastEnd(let n, let s): return "safetensors header length \(n) runs past the end of the file (\(s) bytes)"
    case .badHeaderJSON(let r, let o): return "safetensors header is not valid JSON at byte \(o): \(r)"
    case .duplicateKey(let k, let o): return "safetensors header repeats the key '\(k)' at byte \(o)"
    case .badEntry(let t, let r): return "safetensors tensor '\(t)': \(r)"
    case .unknownDType(let t, let d): return "safetensors tensor '\(t)' has unknown dtype '\(d)'"
    case .unsupportedDType(let t, let d): return "tensor '\(t)' has dtype \(d); only F32, F16 and BF16 weights are supported"
    case .tooManyDimensions(let t, let n): return "safetensors tensor '\(t)' has \(n) dimensions (at most \(SafeTensorsFile.maxDims))"
    case .elementCountOverflow(let t): return "safetensors tensor '\(t)' size overflows 64 bits"
    case .badOffsets(let t, let b, let e): return "safetensors tensor '\(t)' has data_offsets [\(b), \(e)]: begin after end"
    case .sizeMismatch(let t, let e, let f): return "safetensors tensor '\(t)' spans \(f) bytes, but its shape and dtype need \(e)"
    case .tensorPastEnd(let t, let e, let s): return "safetensors tensor '\(t)' ends at data byte \(e), past the end of the data (\(s) bytes)"
    case .overlappingTensors(let a, let b): return "safetensors tensors '\(a)' and '\(b)' overlap"
    case .gap(let t, let o): return "safetensors data has unused bytes at data offset \(o), before tensor '\(t)'"
    case .trailingBytes(let n): return "safetensors data has \(n) unused bytes after the last tensor"
    case .missingTensor(let n): return "missing tensor '\(n)'"
    }
  }
}

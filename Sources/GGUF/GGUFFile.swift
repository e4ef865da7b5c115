#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One tensor's header entry. `dims[0]` is the row length (ggml's ne0), the fastest-varying axis.
public struct GGUFTensorInfo: Sendable, Equatable {
  public let name: String
  public let dims: [Int]
  public let type: GGMLType
  /// Offset of the data, relative to the start of the data section.
  public let offset: Int
  public let byteCount: Int

  public var elementCount: Int { dims.reduce(1, *) }
  public var rowLength: Int { dims[0] }
  public var rowCount: Int { elementCount / dims[0] }
}

/// A parsed, validated GGUF file whose tensor data stays in the mapped file (no copies).
///
/// Every structural check happens in `init`; once it returns, every tensor's bytes lie inside the
/// file, don't overlap, and match their type and shape.
public final class GGUFFile: @unchecked Sendable {
  public static let magic: UInt32 = 0x4655_4747  // "GGUF" little-endian
  public static let defaultAlignment = 32
  static let maxDims = 4

  public let path: String?
  public let version: UInt32
  /// Metadata in file order.
  public let metadataKeys: [String]
  public let metadata: [String: GGUFValue]
  public let tensors: [GGUFTensorInfo]
  public let alignment: Int
  /// Absolute offset of the data section.
  public let dataOffset: Int
  public let fileSize: Int

  private let storage: Storage
  private let tensorIndex: [String: Int]

  /// Maps `path` read-only and parses it.
  public convenience init(path: String) throws(GGUFError) {
    let storage = try Storage(mapping: path)
    try self.init(storage: storage, path: path)
  }

  /// Parses an in-memory copy (tests, fuzzing).
  public convenience init(bytes: [UInt8]) throws(GGUFError) {
    try self.init(storage: Storage(copying: bytes), path: nil)
  }

  /// Parses bytes filled in memory (a decrypted model), keeping them alive without a copy. Only the
  /// `count` bytes appended so far are the file; `bytes` must not be appended to afterwards.
  public convenience init(taking bytes: ModelBytes) throws(GGUFError) {
    try self.init(storage: Storage(owner: bytes), path: nil)
  }

  private init(storage: Storage, path: String?) throws(GGUFError) {
    self.storage = storage
    self.path = path
    let buf = storage.buffer
    fileSize = buf.count
    guard buf.count >= 24 else { throw .tooSmall(size: buf.count) }
    var r = ByteReader(buf)

    let magic = try r.read(UInt32.self, "magic")
    guard magic == Self.magic else { throw .badMagic(found: magic) }
    let version = try r.read(UInt32.self, "version")
    if version != 0, version & 0xFFFF == 0 { throw .byteSwapped(version: version.byteSwapped) }
    guard version == 2 || version == 3 else { throw .unsupportedVersion(version) }
    self.version = version

    let tensorCount = try r.read(UInt64.self, "tensor count")
    let kvCount = try r.read(UInt64.self, "metadata key count")
    // Each key takes at least 8 (length) + 1 (name) + 4 (type) + 1 (value) bytes; each tensor
    // at least 8 + 1 + 4 + 8 + 4 + 8. Counts beyond that can't be honest.
    guard kvCount <= UInt64(r.remaining / 14) else { throw .tooManyKeys(count: kvCount) }
    guard tensorCount <= UInt64(r.remaining / 33) else { throw .tooManyTensors(count: tensorCount) }

    var keys: [String] = []
    var meta: [String: GGUFValue] = [:]
    keys.reserveCapacity(Int(kvCount))
    for i in 0..<Int(kvCount) {
      let key = try r.readString("metadata key #\(i)")
      guard !key.isEmpty else { throw .emptyKey(index: i) }
      guard meta[key] == nil else { throw .duplicateKey(key) }
      let rawType = try r.read(UInt32.self, "type of '\(key)'")
      guard let type = GGUFValueType(rawValue: rawType) else { throw .unknownValueType(key: key, type: rawType) }
      meta[key] = try Self.readValue(&r, type: type, key: key, depth: 0)
      keys.append(key)
    }
    metadataKeys = keys
    metadata = meta

    var alignment = Self.defaultAlignment
    if let a = meta["general.alignment"] {
      guard case .uint32(let v) = a else { throw .wrongValueType(key: "general.alignment", expected: "uint32") }
      guard v > 0, v <= 1 << 30, v & (v - 1) == 0 else { throw .badAlignment(value: String(v)) }
      alignment = Int(v)
    }
    self.alignment = alignment

    var infos: [GGUFTensorInfo] = []
    var index: [String: Int] = [:]
    infos.reserveCapacity(Int(tensorCount))
    for i in 0..<Int(tensorCount) {
      let info = try Self.readTensorInfo(&r, index: i, alignment: alignment)
      guard index[info.name] == nil else { throw .duplicateTensor(info.name) }
      index[info.name] = infos.count
      infos.append(info)
    }

    r.align(to: alignment)
    dataOffset = r.offset
    try Self.checkPlacement(infos, dataOffset: dataOffset, fileSize: buf.count)
    tensors = infos
    tensorIndex = index
  }

  // MARK: - Parsing helpers

  static let maxArrayDepth = 4

  private static func readValue(_ r: inout ByteReader, type: GGUFValueType, key: String, depth: Int) throws(GGUFError) -> GGUFValue {
    let what = "value of '\(key)'"
    switch type {
    case .uint8: return .uint8(try r.read(UInt8.self, what))
    case .int8: return .int8(try r.read(Int8.self, what))
    case .uint16: return .uint16(try r.read(UInt16.self, what))
    case .int16: return .int16(try r.read(Int16.self, what))
    case .uint32: return .uint32(try r.read(UInt32.self, what))
    case .int32: return .int32(try r.read(Int32.self, what))
    case .float32: return .float32(try r.readFloat(what))
    case .bool: return .bool(try r.read(UInt8.self, what) != 0)
    case .string: return .string(try r.readString(what))
    case .uint64: return .uint64(try r.read(UInt64.self, what))
    case .int64: return .int64(try r.read(Int64.self, what))
    case .float64: return .float64(try r.readDouble(what))
    case .array: return .array(try readArray(&r, key: key, depth: depth))
    }
  }

  private static func readArray(_ r: inout ByteReader, key: String, depth: Int) throws(GGUFError) -> GGUFArray {
    guard depth < maxArrayDepth else { throw .arrayNestedTooDeep(key: key) }
    let rawType = try r.read(UInt32.self, "array type of '\(key)'")
    guard let type = GGUFValueType(rawValue: rawType) else { throw .unknownValueType(key: key, type: rawType) }
    let count64 = try r.read(UInt64.self, "array count of '\(key)'")
    guard count64 <= UInt64(r.remaining / type.minEncodedSize) else { throw .arrayTooLong(key: key, count: count64) }
    let n = Int(count64)
    let what = "array '\(key)'"
    switch type {
    case .uint8: return .uint8(try r.readArray(UInt8.self, count: n, what))
    case .int8: return .int8(try r.readArray(Int8.self, count: n, what))
    case .uint16: return .uint16(try r.readArray(UInt16.self, count: n, what))
    case .int16: return .int16(try r.readArray(Int16.self, count: n, what))
    case .uint32: return .uint32(try r.readArray(UInt32.self, count: n, what))
    case .int32: return .int32(try r.readArray(Int32.self, count: n, what))
    case .float32: return .float32(try r.readArray(UInt32.self, count: n, what).map(Float.init(bitPattern:)))
    case .bool: return .bool(try r.readArray(UInt8.self, count: n, what).map { $0 != 0 })
    case .uint64: return .uint64(try r.readArray(UInt64.self, count: n, what))
    case .int64: return .int64(try r.readArray(Int64.self, count: n, what))
    case .float64: return .float64(try r.readArray(UInt64.self, count: n, what).map(Double.init(bitPattern:)))
    case .string:
      var out: [String] = []
      out.reserveCapacity(n)
      for i in 0..<n { out.append(try r.readString("element \(i) of '\(key)'")) }
      return .string(out)
    case .array:
      var out: [GGUFArray] = []
      out.reserveCapacity(n)
      for _ in 0..<n { out.append(try readArray(&r, key: key, depth: depth + 1)) }
      return .array(out)
    }
  }

  private static func readTensorInfo(_ r: inout ByteReader, index i: Int, alignment: Int) throws(GGUFError) -> GGUFTensorInfo {
    let name = try r.readString("name of tensor #\(i)")
    guard !name.isEmpty else { throw .emptyTensorName(index: i) }
    let nDims = try r.read(UInt32.self, "dimension count of '\(name)'")
    guard nDims >= 1, nDims <= UInt32(maxDims) else { throw .badDimensionCount(tensor: name, count: nDims) }
    var dims: [Int] = []
    var elements: UInt64 = 1
    for axis in 0..<Int(nDims) {
      let d = try r.read(UInt64.self, "dimensions of '\(name)'")
      guard d > 0 else { throw .zeroDimension(tensor: name, axis: axis) }
      guard d <= UInt64(Int.max) else { throw .dimensionTooLarge(tensor: name, axis: axis, value: d) }
      let (p, overflow) = elements.multipliedReportingOverflow(by: d)
      guard !overflow, p <= UInt64(Int.max) else { throw .elementCountOverflow(tensor: name) }
      elements = p
      dims.append(Int(d))
    }
    let rawType = try r.read(UInt32.self, "type of '\(name)'")
    guard let type = GGMLType(rawValue: rawType) else { throw .unknownTensorType(tensor: name, type: rawType) }
    let offset = try r.read(UInt64.self, "offset of '\(name)'")
    guard dims[0] % type.blockSize == 0 else {
      throw .rowNotBlockMultiple(tensor: name, rowLength: dims[0], blockSize: type.blockSize, type: type.name)
    }
    let (bytes, overflow) = (elements / UInt64(type.blockSize)).multipliedReportingOverflow(by: UInt64(type.typeSize))
    guard !overflow, bytes <= UInt64(Int.max) else { throw .byteSizeOverflow(tensor: name) }
    guard offset % UInt64(alignment) == 0 else { throw .misalignedTensor(tensor: name, offset: offset, alignment: alignment) }
    guard offset <= UInt64(Int.max) else { throw .tensorPastEnd(tensor: name, end: offset, fileSize: r.base.count) }
    return GGUFTensorInfo(name: name, dims: dims, type: type, offset: Int(offset), byteCount: Int(bytes))
  }

  /// Every tensor must lie inside the file, and no two may share bytes.
  private static func checkPlacement(_ infos: [GGUFTensorInfo], dataOffset: Int, fileSize: Int) throws(GGUFError) {
    let available = UInt64(max(0, fileSize - dataOffset))
    for t in infos {
      let (end, overflow) = UInt64(t.offset).addingReportingOverflow(UInt64(t.byteCount))
      guard !overflow, end <= available else {
        throw .tensorPastEnd(tensor: t.name, end: overflow ? .max : end + UInt64(dataOffset), fileSize: fileSize)
      }
    }
    let sorted = infos.sorted { $0.offset < $1.offset }
    for (a, b) in zip(sorted, sorted.dropFirst()) where a.offset + a.byteCount > b.offset {
      throw .overlappingTensors(a.name, b.name)
    }
  }

  // MARK: - Access

  public func tensor(named name: String) -> GGUFTensorInfo? {
    tensorIndex[name].map { tensors[$0] }
  }

  /// The tensor's bytes, inside the mapped file.
  public func data(for t: GGUFTensorInfo) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(rebasing: storage.buffer[(dataOffset + t.offset)..<(dataOffset + t.offset + t.byteCount)])
  }

  /// The whole mapped file.
  public var bytes: UnsafeRawBufferPointer { storage.buffer }

  /// How many of the file's bytes are mapped by 2 MB pages (FileMapping); nil for a file not
  /// mapped, or where the system does not say.
  public var hugePageBytes: Int? {
    guard storage.mapped, let base = storage.buffer.baseAddress else { return nil }
    return FileMapping.hugeBytes(mappingAt: base)
  }

  /// `general.architecture`, e.g. `llama`.
  public var architecture: String? { metadata["general.architecture"]?.string }

  public subscript(key: String) -> GGUFValue? { metadata[key] }

  public func int(_ key: String) -> Int? { metadata[key]?.int }
  public func double(_ key: String) -> Double? { metadata[key]?.double }
  public func string(_ key: String) -> String? { metadata[key]?.string }
  public func bool(_ key: String) -> Bool? { metadata[key]?.bool }
  public func array(_ key: String) -> GGUFArray? { metadata[key]?.array }

  public func requireInt(_ key: String) throws(GGUFError) -> Int {
    guard let v = metadata[key] else { throw .missingKey(key) }
    guard let i = v.int else { throw .wrongValueType(key: key, expected: "an integer") }
    return i
  }

  public func requireDouble(_ key: String) throws(GGUFError) -> Double {
    guard let v = metadata[key] else { throw .missingKey(key) }
    guard let d = v.double else { throw .wrongValueType(key: key, expected: "a number") }
    return d
  }

  public func requireTensor(_ name: String) throws(GGUFError) -> GGUFTensorInfo {
    guard let t = tensor(named: name) else { throw .missingTensor(name) }
    return t
  }
}

/// The bytes behind a GGUFFile: a read-only private mapping, a heap copy for tests, or a
/// `ModelBytes` it keeps alive.
final class Storage: @unchecked Sendable {
  let buffer: UnsafeRawBufferPointer
  let mapped: Bool
  private let owner: ModelBytes?

  init(mapping path: String) throws(GGUFError) {
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    defer { close(fd) }
    var st = stat()
    guard fstat(fd, &st) == 0 else { throw .cannotOpen(path: path, reason: String(cString: strerror(errno))) }
    guard (st.st_mode & S_IFMT) == S_IFREG else { throw .notAFile(path: path) }
    let size = Int(st.st_size)
    guard size >= 24 else { throw .tooSmall(size: size) }
    guard let p = FileMapping.map(fd: fd, size: size) else {
      throw .cannotOpen(path: path, reason: "mmap: " + String(cString: strerror(errno)))
    }
    buffer = UnsafeRawBufferPointer(start: p, count: size)
    mapped = true
    owner = nil
  }

  init(copying bytes: [UInt8]) {
    let p = UnsafeMutableRawBufferPointer.allocate(byteCount: max(bytes.count, 1), alignment: 64)
    bytes.withUnsafeBytes { src in
      if let s = src.baseAddress, !bytes.isEmpty { p.baseAddress!.copyMemory(from: s, byteCount: bytes.count) }
    }
    buffer = UnsafeRawBufferPointer(start: p.baseAddress, count: bytes.count)
    mapped = false
    owner = nil
  }

  init(owner: ModelBytes) {
    buffer = owner.filled
    mapped = false
    self.owner = owner
  }

  deinit {
    if owner != nil { return }  // ModelBytes frees its own memory
    if mapped {
      munmap(UnsafeMutableRawPointer(mutating: buffer.baseAddress), buffer.count)
    } else {
      UnsafeMutableRawPointer(mutating: buffer.baseAddress)?.deallocate()
    }
  }
}

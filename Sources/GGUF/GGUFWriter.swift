#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes GGUF v3 files. Tensor data is produced on demand, one tensor at a time, so a
/// quantizer never holds a whole model in memory.
public struct GGUFWriter {
  public struct PendingTensor {
    public let name: String
    public let dims: [Int]
    public let type: GGMLType
    public let byteCount: Int
    let produce: () throws -> [UInt8]
  }

  public var version: UInt32 = 3
  public private(set) var metadata: [(String, GGUFValue)] = []
  public private(set) var tensors: [PendingTensor] = []

  public init() {}

  public var alignment: Int {
    if case .uint32(let a)? = metadata.first(where: { $0.0 == "general.alignment" })?.1, a > 0 { return Int(a) }
    return GGUFFile.defaultAlignment
  }

  /// Sets a metadata value, replacing an earlier one with the same key (order is kept).
  public mutating func set(_ key: String, _ value: GGUFValue) {
    if let i = metadata.firstIndex(where: { $0.0 == key }) { metadata[i].1 = value } else { metadata.append((key, value)) }
  }

  public mutating func remove(_ key: String) {
    metadata.removeAll { $0.0 == key }
  }

  /// Copies every metadata key of `file`, in order.
  public mutating func copyMetadata(from file: GGUFFile) {
    for k in file.metadataKeys { set(k, file.metadata[k]!) }
  }

  /// Adds a tensor whose bytes are produced when the file is written.
  public mutating func addTensor(name: String, dims: [Int], type: GGMLType, produce: @escaping () throws -> [UInt8]) throws(GGUFError) {
    let n = dims.reduce(1, *)
    guard let bytes = type.rowBytes(dims[0]).map({ $0 * (n / dims[0]) }) else {
      throw .rowNotBlockMultiple(tensor: name, rowLength: dims[0], blockSize: type.blockSize, type: type.name)
    }
    tensors.append(PendingTensor(name: name, dims: dims, type: type, byteCount: bytes, produce: produce))
  }

  public mutating func addTensor(name: String, dims: [Int], type: GGMLType, bytes: [UInt8]) throws(GGUFError) {
    try addTensor(name: name, dims: dims, type: type) { bytes }
  }

  public mutating func addTensor(name: String, dims: [Int], floats: [Float]) throws(GGUFError) {
    let bytes = floats.withUnsafeBytes { Array($0) }
    try addTensor(name: name, dims: dims, type: .f32, bytes: bytes)
  }

  /// The header and tensor table, up to (and including) the padding before the data section.
  public func header() -> [UInt8] {
    var out: [UInt8] = []
    out.append(le: GGUFFile.magic)
    out.append(le: version)
    out.append(le: UInt64(tensors.count))
    out.append(le: UInt64(metadata.count))
    for (k, v) in metadata {
      out.appendString(k)
      out.append(le: v.type.rawValue)
      out.appendValue(v)
    }
    var offset = 0
    let align = alignment
    for t in tensors {
      out.appendString(t.name)
      out.append(le: UInt32(t.dims.count))
      for d in t.dims { out.append(le: UInt64(d)) }
      out.append(le: t.type.rawValue)
      out.append(le: UInt64(offset))
      offset = (offset + t.byteCount + align - 1) / align * align
    }
    while out.count % align != 0 { out.append(0) }
    return out
  }

  /// Writes to `path` through a temporary file, fsync and rename, so readers never see half a file.
  public func write(to path: String) throws {
    let tmp = path + ".tmp-\(getpid())"
    let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    guard fd >= 0 else { throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    var ok = false
    defer {
      close(fd)
      if !ok { unlink(tmp) }
    }
    func put(_ bytes: [UInt8]) throws {
      try bytes.withUnsafeBytes { buf in
        var done = 0
        while done < buf.count {
          let n = Glibc.write(fd, buf.baseAddress! + done, buf.count - done)
          if n < 0 {
            if errno == EINTR { continue }
            throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno)))
          }
          done += n
        }
      }
    }
    try put(header())
    let align = alignment
    for t in tensors {
      let bytes = try t.produce()
      guard bytes.count == t.byteCount else {
        throw GGUFError.writeFailed(path: path, reason: "tensor '\(t.name)' produced \(bytes.count) bytes, expected \(t.byteCount)")
      }
      try put(bytes)
      let pad = (align - t.byteCount % align) % align
      if pad > 0 { try put([UInt8](repeating: 0, count: pad)) }
    }
    guard fsync(fd) == 0 else { throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    guard rename(tmp, path) == 0 else { throw GGUFError.writeFailed(path: path, reason: String(cString: strerror(errno))) }
    ok = true
  }

  /// The whole file in memory (small test files).
  public func bytes() throws -> [UInt8] {
    var out = header()
    for t in tensors {
      out += try t.produce()
      while out.count % alignment != 0 { out.append(0) }
    }
    return out
  }
}

extension [UInt8] {
  mutating func append<T: FixedWidthInteger>(le v: T) {
    Swift.withUnsafeBytes(of: v.littleEndian) { append(contentsOf: $0) }
  }

  mutating func appendString(_ s: String) {
    let u = Array(s.utf8)
    append(le: UInt64(u.count))
    append(contentsOf: u)
  }

  mutating func appendValue(_ v: GGUFValue) {
    switch v {
    case .uint8(let x): append(le: x)
    case .int8(let x): append(le: x)
    case .uint16(let x): append(le: x)
    case .int16(let x): append(le: x)
    case .uint32(let x): append(le: x)
    case .int32(let x): append(le: x)
    case .float32(let x): append(le: x.bitPattern)
    case .bool(let x): append(x ? 1 : 0)
    case .string(let s): appendString(s)
    case .uint64(let x): append(le: x)
    case .int64(let x): append(le: x)
    case .float64(let x): append(le: x.bitPattern)
    case .array(let a): appendArray(a)
    }
  }

  mutating func appendArray(_ a: GGUFArray) {
    append(le: a.elementType.rawValue)
    append(le: UInt64(a.count))
    switch a {
    case .uint8(let xs): append(contentsOf: xs)
    case .int8(let xs): for x in xs { append(le: x) }
    case .uint16(let xs): for x in xs { append(le: x) }
    case .int16(let xs): for x in xs { append(le: x) }
    case .uint32(let xs): for x in xs { append(le: x) }
    case .int32(let xs): for x in xs { append(le: x) }
    case .float32(let xs): for x in xs { append(le: x.bitPattern) }
    case .bool(let xs): for x in xs { append(x ? 1 : 0) }
    case .string(let xs): for x in xs { appendString(x) }
    case .uint64(let xs): for x in xs { append(le: x) }
    case .int64(let xs): for x in xs { append(le: x) }
    case .float64(let xs): for x in xs { append(le: x.bitPattern) }
    case .array(let xs): for x in xs { appendArray(x) }
    }
  }
}

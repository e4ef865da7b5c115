/// A cursor over untrusted bytes. Every read is checked against the bytes that remain, so a
/// malformed length can never read outside the buffer or drive an allocation larger than the file.
struct ByteReader {
  let base: UnsafeRawBufferPointer
  private(set) var offset: Int

  init(_ base: UnsafeRawBufferPointer, offset: Int = 0) {
    self.base = base
    self.offset = offset
  }

  var remaining: Int { base.count - offset }

  mutating func need(_ n: Int, _ what: @autoclosure () -> String) throws(GGUFError) {
    guard n >= 0, n <= remaining else { throw .truncated(what: what(), offset: offset) }
  }

  mutating func read<T: FixedWidthInteger>(_: T.Type, _ what: @autoclosure () -> String) throws(GGUFError) -> T {
    try need(MemoryLayout<T>.size, what())
    let v = base.loadUnaligned(fromByteOffset: offset, as: T.self)
    offset += MemoryLayout<T>.size
    return T(littleEndian: v)
  }

  mutating func readFloat(_ what: @autoclosure () -> String) throws(GGUFError) -> Float {
    Float(bitPattern: try read(UInt32.self, what()))
  }

  mutating func readDouble(_ what: @autoclosure () -> String) throws(GGUFError) -> Double {
    Double(bitPattern: try read(UInt64.self, what()))
  }

  /// A u64-length-prefixed UTF-8 string. The length is checked before anything is allocated.
  mutating func readString(_ what: @autoclosure () -> String) throws(GGUFError) -> String {
    let start = offset
    let len = try read(UInt64.self, what())
    guard len <= UInt64(remaining) else { throw .stringTooLong(what: what(), length: len, offset: start) }
    let n = Int(len)
    let bytes = UnsafeRawBufferPointer(rebasing: base[offset..<(offset + n)])
    offset += n
    guard let s = String(validating: bytes.bindMemory(to: UInt8.self), as: UTF8.self) else {
      throw .invalidUTF8(what: what(), offset: start)
    }
    return s
  }

  /// Reads `count` fixed-size little-endian values after checking they fit.
  mutating func readArray<T: FixedWidthInteger>(_: T.Type, count: Int, _ what: @autoclosure () -> String) throws(GGUFError) -> [T] {
    let size = MemoryLayout<T>.size
    guard count <= remaining / size else { throw .truncated(what: what(), offset: offset) }
    let start = offset
    let out = [T](unsafeUninitializedCapacity: count) { buf, n in
      for i in 0..<count {
        buf[i] = T(littleEndian: base.loadUnaligned(fromByteOffset: start + i * size, as: T.self))
      }
      n = count
    }
    offset += count * size
    return out
  }

  mutating func align(to alignment: Int) {
    let r = offset % alignment
    if r != 0 { offset += alignment - r }
  }
}

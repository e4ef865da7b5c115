/// Memory for a model that is not read from a plain file, such as an encrypted registry artifact
/// decrypted at load: allocated once at its final size (64-byte aligned, like the kernels' weights
/// want), filled in pieces, then handed to `GGUFFile(taking:)` without another copy. A 500 MB model
/// so needs 500 MB, not the 1-1.5 GB that going through `Data` and `[UInt8]` would peak at.
public final class ModelBytes: @unchecked Sendable {
  let base: UnsafeMutableRawBufferPointer
  public let capacity: Int
  public private(set) var count = 0

  public init(capacity: Int) {
    precondition(capacity >= 0, "negative capacity")
    self.capacity = capacity
    base = .allocate(byteCount: max(capacity, 1), alignment: 64)
  }

  deinit { base.deallocate() }

  /// Appends `bytes`; more than the capacity is an error, never a reallocation.
  public func append(_ bytes: UnsafeRawBufferPointer) throws(GGUFError) {
    guard bytes.count <= capacity - count else {
      throw .truncated(what: "in-memory model (more bytes than its declared \(capacity))", offset: count)
    }
    if let src = bytes.baseAddress, !bytes.isEmpty {
      base.baseAddress!.advanced(by: count).copyMemory(from: src, byteCount: bytes.count)
    }
    count += bytes.count
  }

  var filled: UnsafeRawBufferPointer { UnsafeRawBufferPointer(start: base.baseAddress, count: count) }
}

import GGUF

/// A weight matrix in a GGUF tensor: `rows` output features, each a row of `cols` elements in
/// `type`. The data is not owned (it normally lies in the mapped file).
public struct WeightMatrix: @unchecked Sendable {
  public let type: GGMLType
  public let data: UnsafeRawPointer
  public let rows: Int
  public let cols: Int

  public init(type: GGMLType, data: UnsafeRawPointer, rows: Int, cols: Int) {
    guard let traits = TypeTraits.of(type), !traits.activationOnly else {
      preconditionFailure("WeightMatrix: unsupported type \(type.name)")
    }
    precondition(rows >= 0 && cols > 0 && cols % traits.blockSize == 0,
                 "WeightMatrix: \(cols) columns is not a whole number of \(type.name) blocks")
    self.type = type
    self.data = data
    self.rows = rows
    self.cols = cols
    rowBytes = (cols / traits.blockSize) * traits.blockBytes
  }

  /// A tensor of `file` as a matrix: `dims[0]` columns, the product of the other dims rows.
  public init(file: GGUFFile, tensor: GGUFTensorInfo) {
    let bytes = file.data(for: tensor)
    self.init(type: tensor.type, data: bytes.baseAddress!, rows: tensor.rowCount, cols: tensor.rowLength)
  }

  /// Bytes per row (stored: `row(_:)` is on the kernels' hot path).
  public let rowBytes: Int

  /// Start of row `r`.
  @inline(__always)
  public func row(_ r: Int) -> UnsafeRawPointer { data + r * rowBytes }
}

/// Everything that can be wrong with a GGUF file. Each case names the problem and where it is,
/// so that a CLI can print one line and a test can match the exact failure.
public enum GGUFError: Error, Equatable, Sendable, CustomStringConvertible {
  case cannotOpen(path: String, reason: String)
  case notAFile(path: String)
  case tooSmall(size: Int)
  case badMagic(found: UInt32)
  case byteSwapped(version: UInt32)
  case unsupportedVersion(UInt32)
  case truncated(what: String, offset: Int)
  case tooManyTensors(count: UInt64)
  case tooManyKeys(count: UInt64)
  case stringTooLong(what: String, length: UInt64, offset: Int)
  case invalidUTF8(what: String, offset: Int)
  case emptyKey(index: Int)
  case duplicateKey(String)
  case unknownValueType(key: String, type: UInt32)
  case arrayTooLong(key: String, count: UInt64)
  case arrayNestedTooDeep(key: String)
  case badAlignment(value: String)
  case emptyTensorName(index: Int)
  case duplicateTensor(String)
  case badDimensionCount(tensor: String, count: UInt32)
  case zeroDimension(tensor: String, axis: Int)
  case dimensionTooLarge(tensor: String, axis: Int, value: UInt64)
  case elementCountOverflow(tensor: String)
  case byteSizeOverflow(tensor: String)
  case unknownTensorType(tensor: String, type: UInt32)
  case rowNotBlockMultiple(tensor: String, rowLength: Int, blockSize: Int, type: String)
  case misalignedTensor(tensor: String, offset: UInt64, alignment: Int)
  case tensorPastEnd(tensor: String, end: UInt64, fileSize: Int)
  case overlappingTensors(String, String)
  case missingKey(String)
  case wrongValueType(key: String, expected: String)
  case missingTensor(String)
  case tensorShape(tensor: String, expected: [Int], found: [Int])
  case writeFailed(path: String, reason: String)

  public var description: String {
    switch self {
    case .cannotOpen(let p, let r): return "cannot open \(p): \(r)"
    case .notAFile(let p): return "\(p) is not a regular file"
    case .tooSmall(let n): return "not a GGUF file: only \(n) bytes"
    case .badMagic(let m):
      return "not a GGUF file: bad magic 0x\(String(m, radix: 16, uppercase: true)) (expected 'GGUF')"
    case .byteSwapped(let v): return "GGUF version \(v) is byte-swapped: big-endian GGUF files are not supported"
    case .unsupportedVersion(let v): return "unsupported GGUF version \(v) (supported: 2, 3)"
    case .truncated(let w, let o): return "GGUF file is truncated: \(w) at byte \(o) runs past the end"
    case .tooManyTensors(let n): return "GGUF header claims \(n) tensors, more than the file can hold"
    case .tooManyKeys(let n): return "GGUF header claims \(n) metadata keys, more than the file can hold"
    case .stringTooLong(let w, let n, let o): return "\(w) at byte \(o) has length \(n), past the end of the file"
    case .invalidUTF8(let w, let o): return "\(w) at byte \(o) is not valid UTF-8"
    case .emptyKey(let i): return "metadata key #\(i) is empty"
    case .duplicateKey(let k): return "duplicate metadata key '\(k)'"
    case .unknownValueType(let k, let t): return "metadata key '\(k)' has unknown value type \(t)"
    case .arrayTooLong(let k, let n): return "metadata array '\(k)' claims \(n) elements, more than the file can hold"
    case .arrayNestedTooDeep(let k): return "metadata array '\(k)' is nested too deeply"
    case .badAlignment(let v): return "general.alignment \(v) is not a power of two between 1 and 2^30"
    case .emptyTensorName(let i): return "tensor #\(i) has an empty name"
    case .duplicateTensor(let n): return "duplicate tensor name '\(n)'"
    case .badDimensionCount(let t, let n): return "tensor '\(t)' has \(n) dimensions (1 to 4 allowed)"
    case .zeroDimension(let t, let a): return "tensor '\(t)' has size 0 on axis \(a)"
    case .dimensionTooLarge(let t, let a, let v): return "tensor '\(t)' axis \(a) size \(v) is too large"
    case .elementCountOverflow(let t): return "tensor '\(t)' element count overflows 64 bits"
    case .byteSizeOverflow(let t): return "tensor '\(t)' byte size overflows 64 bits"
    case .unknownTensorType(let t, let ty): return "tensor '\(t)' has unknown type \(ty)"
    case .rowNotBlockMultiple(let t, let n, let b, let ty):
      return "tensor '\(t)' row length \(n) is not a multiple of \(ty)'s block size \(b)"
    case .misalignedTensor(let t, let o, let a): return "tensor '\(t)' offset \(o) is not a multiple of the alignment \(a)"
    case .tensorPastEnd(let t, let e, let s): return "tensor '\(t)' data ends at byte \(e), past the end of the file (\(s) bytes)"
    case .overlappingTensors(let a, let b): return "tensors '\(a)' and '\(b)' overlap"
    case .missingKey(let k): return "missing metadata key '\(k)'"
    case .wrongValueType(let k, let e): return "metadata key '\(k)' should be \(e)"
    case .missingTensor(let n): return "missing tensor '\(n)'"
    case .tensorShape(let n, let e, let f): return "tensor '\(n)' has shape \(f), expected \(e)"
    case .writeFailed(let p, let r): return "cannot write \(p): \(r)"
    }
  }
}

/// Metadata value types as numbered in the GGUF specification.
public enum GGUFValueType: UInt32, Sendable {
  case uint8 = 0, int8 = 1, uint16 = 2, int16 = 3, uint32 = 4, int32 = 5, float32 = 6
  case bool = 7, string = 8, array = 9, uint64 = 10, int64 = 11, float64 = 12

  /// Fixed encoded size, or nil for strings and arrays.
  var fixedSize: Int? {
    switch self {
    case .uint8, .int8, .bool: return 1
    case .uint16, .int16: return 2
    case .uint32, .int32, .float32: return 4
    case .uint64, .int64, .float64: return 8
    case .string, .array: return nil
    }
  }

  /// The fewest bytes one encoded value can take: what a count is checked against before allocating.
  var minEncodedSize: Int {
    switch self {
    case .string: return 8  // u64 length
    case .array: return 12  // u32 type + u64 count
    default: return fixedSize!
    }
  }
}

/// One metadata value. Arrays keep their element type so that a writer reproduces them exactly.
public indirect enum GGUFValue: Sendable, Equatable {
  case uint8(UInt8), int8(Int8), uint16(UInt16), int16(Int16), uint32(UInt32), int32(Int32)
  case float32(Float), bool(Bool), string(String), uint64(UInt64), int64(Int64), float64(Double)
  case array(GGUFArray)

  public var type: GGUFValueType {
    switch self {
    case .uint8: return .uint8
    case .int8: return .int8
    case .uint16: return .uint16
    case .int16: return .int16
    case .uint32: return .uint32
    case .int32: return .int32
    case .float32: return .float32
    case .bool: return .bool
    case .string: return .string
    case .uint64: return .uint64
    case .int64: return .int64
    case .float64: return .float64
    case .array: return .array
    }
  }

  /// Any integer value as Int (nil for non-integers or a UInt64 above Int.max).
  public var int: Int? {
    switch self {
    case .uint8(let v): return Int(v)
    case .int8(let v): return Int(v)
    case .uint16(let v): return Int(v)
    case .int16(let v): return Int(v)
    case .uint32(let v): return Int(v)
    case .int32(let v): return Int(v)
    case .uint64(let v): return v <= UInt64(Int.max) ? Int(v) : nil
    case .int64(let v): return Int(v)
    case .bool(let v): return v ? 1 : 0
    default: return nil
    }
  }

  /// Any numeric value as Double.
  public var double: Double? {
    switch self {
    case .float32(let v): return Double(v)
    case .float64(let v): return v
    default: return int.map(Double.init)
    }
  }

  public var string: String? { if case .string(let s) = self { return s } else { return nil } }
  public var bool: Bool? { if case .bool(let b) = self { return b } else { return nil } }
  public var array: GGUFArray? { if case .array(let a) = self { return a } else { return nil } }
}

/// A typed metadata array. Large arrays (vocabularies, scores) stay in their native element type.
public indirect enum GGUFArray: Sendable, Equatable {
  case uint8([UInt8]), int8([Int8]), uint16([UInt16]), int16([Int16]), uint32([UInt32]), int32([Int32])
  case float32([Float]), bool([Bool]), string([String]), uint64([UInt64]), int64([Int64]), float64([Double])
  case array([GGUFArray])

  public var count: Int {
    switch self {
    case .uint8(let a): return a.count
    case .int8(let a): return a.count
    case .uint16(let a): return a.count
    case .int16(let a): return a.count
    case .uint32(let a): return a.count
    case .int32(let a): return a.count
    case .float32(let a): return a.count
    case .bool(let a): return a.count
    case .string(let a): return a.count
    case .uint64(let a): return a.count
    case .int64(let a): return a.count
    case .float64(let a): return a.count
    case .array(let a): return a.count
    }
  }

  public var elementType: GGUFValueType {
    switch self {
    case .uint8: return .uint8
    case .int8: return .int8
    case .uint16: return .uint16
    case .int16: return .int16
    case .uint32: return .uint32
    case .int32: return .int32
    case .float32: return .float32
    case .bool: return .bool
    case .string: return .string
    case .uint64: return .uint64
    case .int64: return .int64
    case .float64: return .float64
    case .array: return .array
    }
  }

  public var strings: [String]? { if case .string(let a) = self { return a } else { return nil } }

  /// Numeric arrays as Float (token scores are float32 in practice; others convert).
  public var floats: [Float]? {
    switch self {
    case .float32(let a): return a
    case .float64(let a): return a.map { Float($0) }
    default: return ints?.map { Float($0) }
    }
  }

  /// Integer arrays as Int (token types are int32 in practice).
  public var ints: [Int]? {
    switch self {
    case .uint8(let a): return a.map { Int($0) }
    case .int8(let a): return a.map { Int($0) }
    case .uint16(let a): return a.map { Int($0) }
    case .int16(let a): return a.map { Int($0) }
    case .uint32(let a): return a.map { Int($0) }
    case .int32(let a): return a.map { Int($0) }
    case .int64(let a): return a.map { Int($0) }
    case .uint64(let a): return a.allSatisfy({ $0 <= UInt64(Int.max) }) ? a.map { Int($0) } : nil
    case .bool(let a): return a.map { $0 ? 1 : 0 }
    default: return nil
    }
  }
}

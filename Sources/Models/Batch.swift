/// Tokens for one forward step: each belongs to a KV-cache sequence at a position. Sequences
/// may be mixed (continuous batching); logits are produced only for tokens that ask for them.
public struct Batch: Sendable {
  public private(set) var tokens: [Int32] = []
  public private(set) var positions: [Int32] = []
  public private(set) var sequences: [Int] = []
  public private(set) var wantsLogits: [Bool] = []

  public init(capacity: Int = 0) {
    tokens.reserveCapacity(capacity)
    positions.reserveCapacity(capacity)
    sequences.reserveCapacity(capacity)
    wantsLogits.reserveCapacity(capacity)
  }

  public var count: Int { tokens.count }
  public var isEmpty: Bool { tokens.isEmpty }
  public var logitRows: Int { wantsLogits.reduce(0) { $0 + ($1 ? 1 : 0) } }

  public mutating func add(token: Int, position: Int, sequence: Int, logits: Bool) {
    tokens.append(Int32(truncatingIfNeeded: token))
    positions.append(Int32(truncatingIfNeeded: position))
    sequences.append(sequence)
    wantsLogits.append(logits)
  }

  /// Empties the batch, keeping its storage (no allocation in the token loop).
  public mutating func clear() {
    tokens.removeAll(keepingCapacity: true)
    positions.removeAll(keepingCapacity: true)
    sequences.removeAll(keepingCapacity: true)
    wantsLogits.removeAll(keepingCapacity: true)
  }
}

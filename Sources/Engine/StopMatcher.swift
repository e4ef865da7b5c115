/// Finds stop strings in streamed text. Text that might be the start of a stop string is held
/// back until the next piece shows whether it is, so a stop string never reaches the client.
/// Works on UTF-8 bytes; a held-back suffix always starts on a character boundary because every
/// stop string starts with a lead byte.
public struct StopMatcher: Sendable {
  public let stops: [[UInt8]]
  private var pending: [UInt8] = []

  public init(_ stops: [String]) {
    self.stops = stops.map { Array($0.utf8) }.filter { !$0.isEmpty }
  }

  public enum Result: Equatable, Sendable {
    /// Text safe to emit now.
    case text(String)
    /// A stop string was found: emit this text, then finish.
    case stop(String)
  }

  /// Adds a piece of generated text.
  public mutating func add(_ piece: String) -> Result {
    pending += Array(piece.utf8)
    if let cut = firstStop() {
      let out = String(decoding: pending[..<cut], as: UTF8.self)
      pending.removeAll()
      return .stop(out)
    }
    let hold = heldBackLength()
    let emit = pending.count - hold
    let out = String(decoding: pending[..<emit], as: UTF8.self)
    pending.removeFirst(emit)
    return .text(out)
  }

  /// Whatever is still held back, at the end of generation.
  public mutating func flush() -> String {
    defer { pending.removeAll() }
    return String(decoding: pending, as: UTF8.self)
  }

  private func firstStop() -> Int? {
    var best: Int? = nil
    for s in stops where s.count <= pending.count {
      var i = 0
      while i + s.count <= pending.count {
        if pending[i] == s[0], pending[i..<(i + s.count)].elementsEqual(s) {
          if best == nil || i < best! { best = i }
          break
        }
        i += 1
      }
    }
    return best
  }

  /// The longest suffix of pending that is a proper prefix of some stop string.
  private func heldBackLength() -> Int {
    var hold = 0
    for s in stops {
      var n = min(s.count - 1, pending.count)
      while n > hold {
        if pending[(pending.count - n)...].elementsEqual(s[..<n]) { hold = n; break }
        n -= 1
      }
    }
    return hold
  }
}

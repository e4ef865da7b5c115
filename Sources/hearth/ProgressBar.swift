import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Shows progress of long work on stderr: a redrawn bar on a terminal, otherwise a plain line
/// at the start, every quarter and the end (logs and CI stay readable). stdout is left for results.
final class ProgressBar {
  enum Unit { case bytes, count(String) }

  private let unit: Unit
  private let tty = isatty(STDERR_FILENO) == 1
  private var lastPhase = ""
  private var lastStep = -1
  private var drawn = false

  init(unit: Unit = .bytes) { self.unit = unit }

  /// The callback to hand to the libraries (Registry and Lifecycle take the same shape).
  var handler: (String, Int, Int) -> Void { { [self] phase, done, total in update(phase, done, total) } }

  func update(_ phase: String, _ done: Int, _ total: Int) {
    let fraction = total > 0 ? min(1, Double(done) / Double(total)) : 1
    // Redraw a bar every 1 %, print a line every 25 %.
    let step = Int(fraction * (tty ? 100 : 4))
    if phase == lastPhase && step == lastStep { return }
    if phase != lastPhase { finishLine() }
    lastPhase = phase
    lastStep = step
    let amount = "\(format(done)) of \(format(total))"
    if tty {
      let width = 30
      let filled = Int(fraction * Double(width))
      let bar = String(repeating: "#", count: filled) + String(repeating: ".", count: width - filled)
      write("\r\(phase.padding(toLength: 10, withPad: " ", startingAt: 0)) [\(bar)] \(String(format: "%3d", Int(fraction * 100)))%  \(amount)\u{1B}[K")
      drawn = true
      if done >= total { finishLine() }
    } else {
      write("hearth: \(phase) \(Int(fraction * 100))% (\(amount))\n")
    }
  }

  /// Ends a bar line so the next output starts on a fresh line.
  func finishLine() {
    if drawn { write("\n") }
    drawn = false
  }

  private func format(_ n: Int) -> String {
    switch unit {
    case .bytes: return formatBytes(n)
    case .count(let noun): return "\(n) \(noun)"
    }
  }

  private func write(_ s: String) { FileHandle.standardError.write(Data(s.utf8)) }
}

/// Everything the planner refuses, each naming the field (a CLI flag or a JSON key) at fault.
public enum PlannerError: Error, Equatable, Sendable, CustomStringConvertible {
  /// A value out of range or malformed: `field` is the flag, e.g. `--context`.
  case invalid(field: String, String)
  case unknownPreset(String, suggestions: [String])
  case unknownHardware(field: String, String, suggestions: [String])
  case contextTooLong(context: Int, model: String, max: Int)
  /// The model, KV and overhead don't fit the largest configuration tried.
  case doesNotFit(String)
  case badModelFile(path: String, String)
  case badCatalog(path: String, String)
  case badCalibration(path: String, String)
  case benchFailed(model: String, String)

  public var description: String {
    switch self {
    case .invalid(let field, let why): return "\(field) \(why)"
    case .unknownPreset(let name, let s):
      return "--preset: unknown model '\(name)'" + hint(s) + " (hearth plan --list shows all)"
    case .unknownHardware(let field, let name, let s):
      return "\(field): unknown hardware '\(name)'" + hint(s) + " (hearth plan --list shows all)"
    case .contextTooLong(let c, let m, let max):
      return "--context \(c) is above \(m)'s maximum context of \(max) tokens"
    case .doesNotFit(let why): return why
    case .badModelFile(let path, let why): return "--model \(path): \(why)"
    case .badCatalog(let path, let why): return "--catalog \(path): \(why)"
    case .badCalibration(let path, let why): return "--calibration \(path): \(why)"
    case .benchFailed(let model, let why): return "calibration: hearth bench on \(model) failed: \(why)"
    }
  }

  private func hint(_ s: [String]) -> String {
    s.isEmpty ? "" : "; did you mean " + s.map { "'\($0)'" }.joined(separator: ", ") + "?"
  }
}

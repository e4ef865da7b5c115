/// Restricts which tokens may come next: JSON mode and JSON-schema output use it to make every
/// response parse. One instance follows one sequence; the scheduler calls it on its thread only.
public protocol TokenConstraint: AnyObject {
  /// Whether `token` may come next, given the tokens accepted so far and how many more may still
  /// be generated after it (so that the output can always be completed within max_tokens).
  func allows(_ token: Int, remaining: Int) -> Bool
  /// Records the token that was chosen.
  func accept(_ token: Int)
  /// True once the output is complete; generation then stops with finish reason `stop`.
  var isComplete: Bool { get }
}

/// Makes a fresh constraint per sequence (a request with n > 1 runs several).
public typealias ConstraintFactory = @Sendable () -> any TokenConstraint

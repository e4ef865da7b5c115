import Crypto
import Foundation

/// Where one request of a deployment goes.
public struct RouteChoice: Sendable, Equatable {
  /// The version that answers.
  public var serve: VersionRef
  public var variant: Variant
  /// A version that also runs the request, its output discarded (shadow strategy only).
  public var shadow: VersionRef?
}

/// The routing math, pure and deterministic: a key is hashed (SHA-256, salted with the deployment's
/// name so two deployments split independently) into one of 10,000 buckets, and buckets below
/// `weight × 100` go to the candidate. Raising the weight only moves callers from the primary to the
/// candidate, never back (consistent in that sense), so an A/B caller changes side only when the
/// split itself moves past its bucket.
public enum TrafficSplit {
  public static let buckets = 10_000

  /// The bucket (0..<10,000) of `key` within `salt`.
  public static func bucket(_ key: String, salt: String) -> Int {
    var h = SHA256()
    h.update(data: Data(salt.utf8))
    h.update(data: Data([0]))
    h.update(data: Data(key.utf8))
    let d = Array(h.finalize())
    let v = UInt64(d[0]) << 56 | UInt64(d[1]) << 48 | UInt64(d[2]) << 40 | UInt64(d[3]) << 32 | UInt64(d[4]) << 24 | UInt64(d[5]) << 16
      | UInt64(d[6]) << 8 | UInt64(d[7])
    return Int(v % UInt64(buckets))
  }

  static func inCandidateShare(_ key: String, salt: String, weight: Int) -> Bool {
    bucket(key, salt: salt) < max(0, min(100, weight)) * (buckets / 100)
  }

  /// Chooses for one request. `requestKey` is unique per request (canary draws and shadow sampling);
  /// `stickyKey` identifies the caller for A/B (falling back to `requestKey` when there is none).
  public static func choose(_ state: DeploymentState, deployment: String, requestKey: String, stickyKey: String?) -> RouteChoice {
    let primary = RouteChoice(serve: state.primary, variant: .primary, shadow: nil)
    guard let candidate = state.candidate else { return primary }
    switch state.strategy {
    case .single:
      return primary
    case .canary:
      return inCandidateShare(requestKey, salt: deployment, weight: state.weight) ? RouteChoice(serve: candidate, variant: .candidate) : primary
    case .ab:
      let key = stickyKey ?? requestKey
      return inCandidateShare(key, salt: "ab:" + deployment, weight: state.weight) ? RouteChoice(serve: candidate, variant: .candidate) : primary
    case .shadow:
      let mirrored = inCandidateShare(requestKey, salt: "shadow:" + deployment, weight: state.weight)
      return RouteChoice(serve: state.primary, variant: .primary, shadow: mirrored ? candidate : nil)
    }
  }
}

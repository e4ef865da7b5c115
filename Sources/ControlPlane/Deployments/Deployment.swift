import Foundation

/// How a deployment spreads its traffic over its versions.
public enum DeploymentStrategy: String, Codable, Sendable, CaseIterable {
  /// Every request goes to the primary.
  case single
  /// `weight` percent of requests, drawn per request, go to the candidate.
  case canary
  /// `weight` percent of users (or keys) go to the candidate, each always to the same side.
  case ab
  /// The primary answers every request; `weight` percent are also run on the candidate, whose
  /// output is discarded after its latency and agreement with the primary are recorded.
  case shadow
}

/// What keeps an A/B caller on one side.
public enum StickyBy: String, Codable, Sendable, CaseIterable {
  /// The request's `user` field, else the caller's user id, else its key id.
  case user
  /// The API key (or session user) that sent the request.
  case key
}

/// One registry version: the registry name and version label (checked by the registry, never a path).
public struct VersionRef: Codable, Sendable, Hashable, CustomStringConvertible {
  public var model: String
  public var version: String

  public init(model: String, version: String) {
    self.model = model
    self.version = version
  }

  /// `model:version`, the registry's own reference syntax.
  public var description: String { "\(model):\(version)" }
}

/// What a deployment serves right now: the part `rollback` puts back.
public struct DeploymentState: Codable, Sendable, Equatable {
  public var strategy: DeploymentStrategy
  public var primary: VersionRef
  /// The version on trial (canary, ab, shadow); nil for `single`.
  public var candidate: VersionRef?
  /// Percent (0...100) of traffic, of callers or of mirrored requests the candidate gets.
  public var weight: Int
  public var sticky: StickyBy

  public init(strategy: DeploymentStrategy = .single, primary: VersionRef, candidate: VersionRef? = nil, weight: Int = 0, sticky: StickyBy = .user) {
    self.strategy = strategy
    self.primary = primary
    self.candidate = candidate
    self.weight = weight
    self.sticky = sticky
  }

  /// The versions a server must have loaded to serve this state.
  public var versions: [VersionRef] { [primary] + (candidate.map { [$0] } ?? []) }

  /// One line: `single smol:1`, `canary smol:1 + smol:2 at 10%`.
  public var summary: String {
    guard let c = candidate, strategy != .single else { return "single \(primary)" }
    return "\(strategy.rawValue) \(primary) + \(c) at \(weight)%\(strategy == .ab ? " (sticky per \(sticky.rawValue))" : "")"
  }
}

/// Limits the candidate must stay within. Checked over the last `windowSeconds` once the candidate
/// has served `minRequests`; breaking any one rolls the candidate back (and audits it).
public struct GuardRules: Codable, Sendable, Equatable {
  /// Fraction (0...1) of the candidate's requests that may fail (status 500 and up).
  public var maxErrorRate: Double?
  /// The candidate's p99 latency, in milliseconds.
  public var maxP99Millis: Double?
  /// Fraction (0...1) of mirrored requests whose shadow output may differ from the primary's.
  public var maxShadowDisagreement: Double?
  public var windowSeconds: Int
  public var minRequests: Int

  public init(maxErrorRate: Double? = nil, maxP99Millis: Double? = nil, maxShadowDisagreement: Double? = nil, windowSeconds: Int = 60, minRequests: Int = 20) {
    self.maxErrorRate = maxErrorRate
    self.maxP99Millis = maxP99Millis
    self.maxShadowDisagreement = maxShadowDisagreement
    self.windowSeconds = windowSeconds
    self.minRequests = minRequests
  }

  public var isEmpty: Bool { maxErrorRate == nil && maxP99Millis == nil && maxShadowDisagreement == nil }

  func validate() throws(ControlPlaneError) {
    for (n, v) in [("error rate", maxErrorRate), ("shadow disagreement", maxShadowDisagreement)] {
      if let v, !(0...1).contains(v) { throw .invalid("guard \(n) must be between 0 and 1, got \(v)") }
    }
    if let p = maxP99Millis, !(p > 0 && p < 86_400_000) { throw .invalid("guard p99 latency must be positive milliseconds, got \(p)") }
    guard (1...86400).contains(windowSeconds) else { throw .invalid("guard window must be 1 to 86400 seconds, got \(windowSeconds)") }
    guard (1...1_000_000).contains(minRequests) else { throw .invalid("guard minimum requests must be 1 to 1e6, got \(minRequests)") }
  }
}

/// A tenant's public model name (what clients send as `model`) mapped to registry versions.
public struct Deployment: Codable, Sendable, Equatable {
  public var id: String
  public var tenantID: String
  public var name: String
  public var state: DeploymentState
  /// The state before the last change: what `rollback` restores.
  public var previous: DeploymentState?
  public var guards: GuardRules?
  /// Bumped by every change; a change commits only over the revision it read (no lost updates
  /// between the CLI, the admin API and the guards).
  public var revision: Int
  public var createdAt: Date
  public var updatedAt: Date
  /// Who made the last change (`cli:<login>`, `key:<id>`, `system:guard`).
  public var updatedBy: String

  public init(
    id: String, tenantID: String, name: String, state: DeploymentState, previous: DeploymentState? = nil, guards: GuardRules? = nil,
    revision: Int = 1, createdAt: Date, updatedAt: Date, updatedBy: String
  ) {
    self.id = id
    self.tenantID = tenantID
    self.name = name
    self.state = state
    self.previous = previous
    self.guards = guards
    self.revision = revision
    self.createdAt = createdAt
    self.updatedAt = updatedAt
    self.updatedBy = updatedBy
  }
}

/// Which side of a deployment served (or shadowed) a request.
public enum Variant: String, Codable, Sendable, CaseIterable {
  case primary, candidate, shadow
}

/// One request served through a deployment, kept for `hearth ab report`, feedback and the guards.
public struct DeploymentRequest: Codable, Sendable, Equatable {
  /// The response's `id` (`chatcmpl-...`); shadow runs share the primary's id.
  public var responseID: String
  public var tenantID: String
  public var deployment: String
  public var version: VersionRef
  public var variant: Variant
  /// HTTP status (200, or the error's status).
  public var status: Int
  public var latencyMicros: Int64
  public var promptTokens: Int
  public var completionTokens: Int
  /// Shadow runs only: whether the candidate's output equalled the primary's.
  public var agreed: Bool?
  public var time: Date

  public init(
    responseID: String, tenantID: String, deployment: String, version: VersionRef, variant: Variant, status: Int, latencyMicros: Int64,
    promptTokens: Int, completionTokens: Int, agreed: Bool? = nil, time: Date
  ) {
    self.responseID = responseID
    self.tenantID = tenantID
    self.deployment = deployment
    self.version = version
    self.variant = variant
    self.status = status
    self.latencyMicros = latencyMicros
    self.promptTokens = promptTokens
    self.completionTokens = completionTokens
    self.agreed = agreed
    self.time = time
  }

  public var failed: Bool { status >= 500 }
}

/// A user's verdict on one response (`POST /v1/feedback`), tied to the version that produced it.
public struct Feedback: Codable, Sendable, Equatable {
  public var responseID: String
  public var tenantID: String
  public var deployment: String
  public var version: VersionRef
  public var variant: Variant
  public var score: Double
  public var comment: String
  public var actor: String
  public var time: Date

  public init(
    responseID: String, tenantID: String, deployment: String, version: VersionRef, variant: Variant, score: Double, comment: String,
    actor: String, time: Date
  ) {
    self.responseID = responseID
    self.tenantID = tenantID
    self.deployment = deployment
    self.version = version
    self.variant = variant
    self.score = score
    self.comment = comment
    self.actor = actor
    self.time = time
  }
}

import Foundation

/// One variant's figures in `hearth ab report`.
public struct VariantReport: Codable, Sendable, Equatable {
  public var variant: Variant
  public var version: VersionRef
  public var requests: Int
  /// Requests that failed on the server's side (status 500 and up).
  public var errors: Int
  public var p50Millis: Double
  public var p99Millis: Double
  public var promptTokens: Int
  public var completionTokens: Int
  public var feedbackCount: Int
  public var meanScore: Double?
  /// Shadow runs only: the fraction whose output equalled the primary's.
  public var agreement: Double?
}

extension DeploymentService {
  /// Keeps what the server saw of requests served through deployments (batched by the caller).
  public func record(_ rows: [DeploymentRequest]) async throws {
    try await store.recordDeploymentRequests(rows)
  }

  /// Feedback on one of the caller's tenant's responses, tied to the deployment and version that
  /// produced it. Another tenant's response reads as not found; a second verdict is a conflict.
  @discardableResult
  public func submitFeedback(responseID: String, score: Double, comment: String, by p: Principal) async throws -> Feedback {
    try p.require(.inference)
    try validateName(responseID, what: "response_id", max: 128)
    guard score.isFinite, (-10...10).contains(score) else { throw ControlPlaneError.invalid("score must be a number from -10 to 10") }
    guard comment.utf8.count <= 4000 else { throw ControlPlaneError.invalid("comment is longer than 4000 bytes") }
    guard !comment.unicodeScalars.contains(where: { $0.value == 0 }) else { throw ControlPlaneError.invalid("comment must not contain NUL") }
    guard let r = try await store.deploymentRequest(responseID: responseID, tenantID: p.tenantID) else {
      throw ControlPlaneError.notFound("response \(responseID) (feedback is taken for responses served through a deployment)")
    }
    let f = Feedback(
      responseID: responseID, tenantID: r.tenantID, deployment: r.deployment, version: r.version, variant: r.variant, score: score,
      comment: comment, actor: p.actor, time: clock.now())
    do { try await store.insertFeedback(f) } catch ControlPlaneError.conflict(_) {
      throw ControlPlaneError.conflict("response \(responseID) already has feedback")
    }
    return f
  }

  /// Requests, latency, tokens, errors and feedback per variant and version since `since` (all time when nil).
  public func report(_ name: String, tenantID: String, since: Date? = nil, by p: Principal) async throws -> [VariantReport] {
    _ = try await get(name, tenantID: tenantID, by: p)
    let rows = try await store.deploymentRequests(tenantID: tenantID, deployment: name, since: since)
    let votes = try await store.feedback(tenantID: tenantID, deployment: name, since: since)
    struct Key: Hashable { var variant: Variant, version: VersionRef }
    let groups = Dictionary(grouping: rows) { Key(variant: $0.variant, version: $0.version) }
    let scores = Dictionary(grouping: votes) { Key(variant: $0.variant, version: $0.version) }
    let keys = Set(groups.keys).union(scores.keys).sorted {
      (Variant.allCases.firstIndex(of: $0.variant)!, $0.version.description) < (Variant.allCases.firstIndex(of: $1.variant)!, $1.version.description)
    }
    return keys.map { k in
      let g = groups[k] ?? []
      let latencies = g.map { Double($0.latencyMicros) / 1000 }.sorted()
      let s = scores[k] ?? []
      let judged = g.compactMap(\.agreed)
      return VariantReport(
        variant: k.variant, version: k.version, requests: g.count, errors: g.filter(\.failed).count,
        p50Millis: Self.percentile(latencies, 0.5), p99Millis: Self.percentile(latencies, 0.99),
        promptTokens: g.reduce(0) { $0 + $1.promptTokens }, completionTokens: g.reduce(0) { $0 + $1.completionTokens },
        feedbackCount: s.count, meanScore: s.isEmpty ? nil : s.reduce(0) { $0 + $1.score } / Double(s.count),
        agreement: judged.isEmpty ? nil : Double(judged.filter { $0 }.count) / Double(judged.count))
    }
  }

  /// Nearest-rank percentile of sorted values (0 for none).
  static func percentile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return 0 }
    let rank = Int((q * Double(sorted.count)).rounded(.up))
    return sorted[min(sorted.count, max(1, rank)) - 1]
  }

  /// The guard rule `d`'s candidate breaks over its window, as a sentence, or nil. Only requests since
  /// the candidate went live count, and nothing is judged before `minRequests` of them.
  public func brokenGuard(_ d: Deployment, now: Date) async throws -> String? {
    guard let g = d.guards, !g.isEmpty, let candidate = d.state.candidate, d.state.strategy != .single else { return nil }
    let since = max(now.addingTimeInterval(-Double(g.windowSeconds)), d.updatedAt)
    let rows = try await store.deploymentRequests(tenantID: d.tenantID, deployment: d.name, since: since)
      .filter { $0.version == candidate && $0.variant != .primary }
    guard rows.count >= g.minRequests else { return nil }
    let n = Double(rows.count)
    if let limit = g.maxErrorRate {
      let rate = Double(rows.filter(\.failed).count) / n
      if rate > limit { return String(format: "candidate %@ error rate %.1f %% over %d requests exceeds %.1f %%", candidate.description, rate * 100, rows.count, limit * 100) }
    }
    if let limit = g.maxP99Millis {
      let p99 = Self.percentile(rows.map { Double($0.latencyMicros) / 1000 }.sorted(), 0.99)
      if p99 > limit { return String(format: "candidate %@ p99 latency %.0f ms over %d requests exceeds %.0f ms", candidate.description, p99, rows.count, limit) }
    }
    if let limit = g.maxShadowDisagreement {
      let judged = rows.compactMap(\.agreed)
      if judged.count >= g.minRequests {
        let rate = Double(judged.filter { !$0 }.count) / Double(judged.count)
        if rate > limit {
          return String(format: "candidate %@ disagrees with the primary on %.1f %% of %d mirrored requests, over %.1f %%", candidate.description, rate * 100, judged.count, limit * 100)
        }
      }
    }
    return nil
  }

  /// Checks every guarded deployment and rolls back each candidate that breaks a rule. Returns the
  /// deployments rolled back, with the reason.
  @discardableResult
  public func enforceGuards(now: Date? = nil) async throws -> [(Deployment, String)] {
    let now = now ?? clock.now()
    var done: [(Deployment, String)] = []
    for d in try await store.deployments(scope: .all) where d.guards != nil && d.state.candidate != nil {
      guard let reason = try await brokenGuard(d, now: now) else { continue }
      if let after = try await autoRollback(d, reason: reason) {
        logger.warning("guard rolled back a deployment", metadata: ["deployment": "\(d.name)", "tenant": "\(d.tenantID)", "reason": "\(reason)"])
        done.append((after, reason))
      }
    }
    return done
  }
}

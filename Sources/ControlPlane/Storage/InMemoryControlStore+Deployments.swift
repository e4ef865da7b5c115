import Foundation

extension InMemoryControlStore {
  public func deployment(named name: String, tenantID: String) async throws -> Deployment? {
    state.withLock { s in s.deployments.values.first { $0.tenantID == tenantID && $0.name == name } }
  }

  public func deployments(scope: TenantScope) async throws -> [Deployment] {
    state.withLock { s in s.deployments.values.filter { scope.allows($0.tenantID) }.sorted { ($0.tenantID, $0.name) < ($1.tenantID, $1.name) } }
  }

  public func deploymentGeneration() async throws -> Int64 { state.withLock { $0.deploymentGeneration } }

  @discardableResult
  public func commit(_ mutations: [DeploymentMutation], audit: [AuditDraft]) async throws -> [AuditRecord] {
    try state.withLock { s in
      var next = s  // all or nothing: work on a copy
      for m in mutations { try Self.apply(m, &next) }
      if !mutations.isEmpty { next.deploymentGeneration += 1 }
      let sealed = Self.append(audit, &next)
      s = next
      return sealed
    }
  }

  static func apply(_ m: DeploymentMutation, _ s: inout State) throws {
    switch m {
    case .insert(let d):
      guard s.tenants[d.tenantID] != nil else { throw ControlPlaneError.notFound("referenced tenant or user") }
      guard s.deployments[d.id] == nil, !s.deployments.values.contains(where: { $0.tenantID == d.tenantID && $0.name == d.name }) else {
        throw ControlPlaneError.conflict("already exists (deployments.tenant_id, deployments.name)")
      }
      s.deployments[d.id] = stored(d)
    case .update(let d, let expected):
      guard let old = s.deployments[d.id], old.tenantID == d.tenantID else { throw ControlPlaneError.notFound("deployment \(d.name)") }
      guard old.revision == expected else { throw ControlPlaneError.conflict("deployment \(d.name) was changed meanwhile; retry") }
      var n = stored(d)
      (n.name, n.createdAt) = (old.name, old.createdAt)
      s.deployments[d.id] = n
    }
  }

  /// Times as the SQLite store keeps them (whole microseconds).
  static func stored(_ d: Deployment) -> Deployment {
    var d = d
    d.createdAt = AuditCanonical.truncated(d.createdAt)
    d.updatedAt = AuditCanonical.truncated(d.updatedAt)
    return d
  }

  public func recordDeploymentRequests(_ rows: [DeploymentRequest]) async throws {
    state.withLock { s in
      for var r in rows {
        r.time = AuditCanonical.truncated(r.time)
        s.deploymentRequests.removeAll { $0.responseID == r.responseID && $0.variant == r.variant }
        s.deploymentRequests.append(r)
      }
    }
  }

  public func deploymentRequest(responseID: String, tenantID: String) async throws -> DeploymentRequest? {
    state.withLock { s in s.deploymentRequests.first { $0.responseID == responseID && $0.tenantID == tenantID && $0.variant != .shadow } }
  }

  public func deploymentRequests(tenantID: String, deployment: String, since: Date?) async throws -> [DeploymentRequest] {
    state.withLock { s in
      s.deploymentRequests.filter { $0.tenantID == tenantID && $0.deployment == deployment && $0.time >= (since ?? .distantPast) }
        .sorted { ($0.time, $0.responseID) < ($1.time, $1.responseID) }
    }
  }

  public func insertFeedback(_ f: Feedback) async throws {
    try state.withLock { s in
      guard !s.feedback.contains(where: { $0.responseID == f.responseID }) else {
        throw ControlPlaneError.conflict("already exists (deployment_feedback.response_id)")
      }
      var f = f
      f.time = AuditCanonical.truncated(f.time)
      s.feedback.append(f)
    }
  }

  public func feedback(tenantID: String, deployment: String, since: Date?) async throws -> [Feedback] {
    state.withLock { s in
      s.feedback.filter { $0.tenantID == tenantID && $0.deployment == deployment && $0.time >= (since ?? .distantPast) }
        .sorted { ($0.time, $0.responseID) < ($1.time, $1.responseID) }
    }
  }
}

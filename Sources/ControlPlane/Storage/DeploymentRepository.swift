import Foundation

/// A change to a deployment, committed with its audit records in one transaction.
public enum DeploymentMutation: Sendable, Equatable {
  case insert(Deployment)
  /// Replaces the deployment with this id and tenant, provided its stored revision is still
  /// `expectedRevision`; otherwise the commit fails with `conflict` and changes nothing.
  case update(Deployment, expectedRevision: Int)
}

/// Deployments, the per-request log behind A/B reports and guards, and user feedback.
public protocol DeploymentRepository: Sendable {
  func deployment(named name: String, tenantID: String) async throws -> Deployment?
  /// Deployments in `scope`, by tenant then name.
  func deployments(scope: TenantScope) async throws -> [Deployment]
  /// A counter bumped by every deployment change, in any process: the server polls it (one row, one
  /// read) and reloads deployments only when it moved.
  func deploymentGeneration() async throws -> Int64
  /// Applies `mutations` and appends `audit` atomically, bumping the generation; returns the sealed records.
  @discardableResult
  func commit(_ mutations: [DeploymentMutation], audit: [AuditDraft]) async throws -> [AuditRecord]

  func recordDeploymentRequests(_ rows: [DeploymentRequest]) async throws
  /// The request that produced `responseID` in `tenantID` (the answering variant, not a shadow run).
  func deploymentRequest(responseID: String, tenantID: String) async throws -> DeploymentRequest?
  /// A deployment's requests since `since`, oldest first.
  func deploymentRequests(tenantID: String, deployment: String, since: Date?) async throws -> [DeploymentRequest]
  /// Throws `conflict` when the response already has feedback.
  func insertFeedback(_ f: Feedback) async throws
  func feedback(tenantID: String, deployment: String, since: Date?) async throws -> [Feedback]
}

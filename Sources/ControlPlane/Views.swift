import Foundation

/// An API key as shown to people and programs (CLI `--json`, admin API): everything but the secret's MAC.
public struct APIKeyView: Encodable, Sendable, Equatable {
  public var id, tenant, name, description, role: String
  public var user: String?
  public var models: [String]
  public var expiresAt, lastUsedAt, revokedAt: Date?
  public var createdAt: Date
  public var revoked: Bool
  public var limits: RateLimits
  public var budget: String?

  public init(_ k: APIKeyRecord) {
    (id, tenant, name, description, role, user) = (k.id, k.tenantID, k.name, k.description, k.role.rawValue, k.userID)
    (models, expiresAt, lastUsedAt, revokedAt, createdAt, revoked) = (k.models, k.expiresAt, k.lastUsedAt, k.revokedAt, k.createdAt, k.revoked)
    limits = k.limits
    budget = k.budget?.text
  }
}

/// What an authenticated caller may do. Routes declare one permission each (the server's route table);
/// roles grant sets of them (`Role.permissions`, the matrix documented in docs/security.md).
public enum Permission: String, CaseIterable, Codable, Sendable, Comparable {
  case inference = "inference"  // chat/completions, embeddings on allowed models
  case modelsRead = "models.read"  // list and describe models
  case modelsWrite = "models.write"  // import, quantize, delete models in the registry
  case deploymentsRead = "deployments.read"
  case deploymentsWrite = "deployments.write"  // deploy, canary, A/B, rollback
  case keysRead = "keys.read"
  case keysWrite = "keys.write"  // create, revoke, rotate, update API keys
  case usersRead = "users.read"
  case usersWrite = "users.write"
  case tenantsRead = "tenants.read"
  case tenantsWrite = "tenants.write"
  case auditRead = "audit.read"
  case usageRead = "usage.read"
  case metricsRead = "metrics.read"
  case statusRead = "status.read"
  case settingsRead = "settings.read"
  case settingsWrite = "settings.write"  // server settings, master key rotation, audit checkpoints

  public static func < (a: Permission, b: Permission) -> Bool { a.rawValue < b.rawValue }
}

/// The five roles of issue 5. A role is a fixed set of permissions; there are no per-user grants, so
/// the matrix in docs/security.md is the whole story.
public enum Role: String, CaseIterable, Codable, Sendable {
  case admin, `operator`, developer, auditor, viewer

  /// The permission matrix. Keep docs/security.md in step (a test compares them).
  public var permissions: Set<Permission> {
    switch self {
    case .admin:
      return Set(Permission.allCases)
    case .operator:
      // Runs the models and deployments; can see but not change who has access.
      return [
        .modelsRead, .modelsWrite, .deploymentsRead, .deploymentsWrite,
        .metricsRead, .statusRead, .usageRead, .settingsRead,
      ]
    case .developer:
      // Calls models (only those on the key's allowlist) and sees what it may call.
      return [.inference, .modelsRead, .deploymentsRead, .statusRead]
    case .auditor:
      // Reads the trail and usage, and who holds which key, but changes nothing and runs nothing.
      return [.auditRead, .usageRead, .keysRead, .usersRead, .tenantsRead, .statusRead]
    case .viewer:
      return [.metricsRead, .statusRead]
    }
  }

  public func can(_ permission: Permission) -> Bool { permissions.contains(permission) }

  /// Parses a role name (case-insensitive), for CLI options and configuration.
  public init?(name: String) {
    guard let r = Role(rawValue: name.lowercased()) else { return nil }
    self = r
  }
}

import ControlPlane
import Foundation
import HTTPTypes
import Logging

@testable import Server

/// A control plane in a fresh temporary data dir, as `hearth serve` opens it, that mints keys for the
/// tests. The directory is left in place: the server under test keeps its SQLite store open for as long
/// as it lives, which can outlast this value, and deleting an open WAL database under it would fail
/// the test for the wrong reason.
final class TestPlane: Sendable {
  let dir: URL
  let cp: ControlPlaneServices

  init() async throws {
    dir = FileManager.default.temporaryDirectory.appendingPathComponent("hearth-test-\(UUID().uuidString)")
    var config = ControlPlaneConfig(dataDir: dir.path)
    config.logger.logLevel = .error
    cp = try await ControlPlaneServices.open(config)
    _ = try await cp.tenants.ensureSystemTenant(by: .localOperator())
  }

  /// A new key of `role` in the system tenant; `models` empty means every model.
  func key(_ role: Role, models: [String] = [], limits: RateLimits = .none) async throws -> CreatedAPIKey {
    try await cp.keys.create(
      NewAPIKey(tenantID: Tenant.systemID, name: "\(role.rawValue)-\(UUID().uuidString.prefix(8))", role: role, models: models, limits: limits),
      by: .localOperator())
  }

  /// The inference records of the audit trail, oldest first.
  func inferenceRecords() async throws -> [AuditRecord] {
    try await cp.audit.query(AuditQuery(scope: .all, kind: .inference, limit: 1000), by: .localOperator()).records
  }
}

/// JSON content type plus `Authorization: Bearer <key>`.
func authHeaders(_ key: CreatedAPIKey) -> HTTPFields {
  [.contentType: "application/json", .authorization: "Bearer \(key.plaintext)"]
}

/// A server over a fresh control plane, and an admin key for it (admin holds every permission).
func makeServer(_ config: ServerConfig = testConfig()) async throws -> (server: HearthServer, plane: TestPlane, auth: HTTPFields) {
  let plane = try await TestPlane()
  let server = try await buildApplication(config: config, controlPlane: plane.cp, logger: quietLogger())
  return (server, plane, authHeaders(try await plane.key(.admin)))
}

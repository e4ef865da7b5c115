import Foundation

/// First start: the system tenant and an admin key.
public enum Bootstrap {
  public static let settingName = "bootstrap.admin-key"

  public struct Result: Sendable {
    public var tenant: Tenant
    /// The admin key made now; its plaintext is shown once (nil when none was made).
    public var created: CreatedAPIKey?
    /// The id of an admin key imported from `HEARTH_ADMIN_KEY` or `--admin-key-file`, if any.
    public var importedKeyID: String?

    /// The one stderr line the server prints when it made a key, containing `hk_...`.
    public var announcement: String? {
      created.map { "hearth: created admin API key (shown once, store it now): \($0.plaintext)" }
    }
  }

  /// Where an admin key for automation comes from: `--admin-key-file` wins over `HEARTH_ADMIN_KEY`.
  public static func adminKey(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
    if let file {
      guard let d = FileManager.default.contents(atPath: file) else { throw ControlPlaneError.notFound("admin key file \(file)") }
      return String(decoding: d, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
    if let v = environment["HEARTH_ADMIN_KEY"], !v.isEmpty { return v.trimmingCharacters(in: .whitespacesAndNewlines) }
    return nil
  }

  /// Ensures the system tenant exists and there is a way in:
  /// - with `adminKey` (from a file or the environment): stores it as a system admin key unless a key
  ///   with its id exists; if one does with another secret, refuses.
  /// - otherwise, on the first start only (no bootstrap recorded in the store), makes an admin key and
  ///   returns it for the server to print once. Later starts make none, even if every key was revoked.
  public static func ensureAdmin(_ cp: ControlPlaneServices, adminKey: String? = nil) async throws -> Result {
    let system = Principal(tenantID: Tenant.systemID, role: .admin, actor: "system:bootstrap")
    let tenant = try await cp.tenants.ensureSystemTenant(by: system)
    if let adminKey {
      let token: APIKeyToken
      do { token = try APIKeyToken.parse(adminKey) } catch { throw ControlPlaneError.invalid("the admin key to import is not valid: \(error)") }
      switch try await cp.keys.matches(token) {
      case .some(true):
        return Result(tenant: tenant, created: nil, importedKeyID: nil)
      case .some(false):
        throw ControlPlaneError.conflict("API key \(token.keyID) exists with another secret; refusing to import the admin key")
      case .none:
        let spec = NewAPIKey(tenantID: Tenant.systemID, name: "admin (imported)", role: .admin)
        let record = try await cp.keys.importKey(token, spec: spec, by: system)
        try await markBootstrapped(cp, keyID: record.id, by: system)
        return Result(tenant: tenant, created: nil, importedKeyID: record.id)
      }
    }
    guard try await cp.store.setting(settingName) == nil else { return Result(tenant: tenant, created: nil, importedKeyID: nil) }
    let created = try await cp.keys.create(NewAPIKey(tenantID: Tenant.systemID, name: "admin (bootstrap)", role: .admin), by: system)
    try await markBootstrapped(cp, keyID: created.record.id, by: system)
    return Result(tenant: tenant, created: created, importedKeyID: nil)
  }

  static func markBootstrapped(_ cp: ControlPlaneServices, keyID: String, by p: Principal) async throws {
    let draft = AuditDraft(
      time: cp.clock.now(), kind: .admin, tenantID: Tenant.systemID, actor: p.actor, action: "setting.update",
      target: "setting:\(settingName)", after: ControlJSON.encode([settingName: keyID]))
    let records = try await cp.store.commit([.setSetting(name: settingName, value: keyID)], audit: [draft])
    if let last = records.last { await cp.audit.checkpointAfter(last) }
  }
}

import Foundation
import Testing

@testable import ControlPlane

@Suite struct KeyServiceTests {
  @Test func createdKeyVerifiesToItsPrincipal() async throws {
    let f = try await Fixture()
    let t = try await f.tenant("acme", policy: TenantPolicy(defaultKeyLimits: RateLimits(requestsPerMinute: 60, tokensPerMinute: 1000)))
    let user = try await f.cp.users.create(tenantID: t.id, name: "ada", role: .developer, by: Fixture.admin)
    let k = try await f.key(t.id) {
      $0.userID = user.id
      $0.models = ["llama"]
      $0.limits = RateLimits(tokensPerMinute: 500)
      $0.budget = TokenBudget(tokens: 10_000, period: .day)
    }
    let p = try await f.cp.keys.verify(k.plaintext)
    #expect(p.tenantID == t.id)
    #expect(p.userID == user.id)
    #expect(p.keyID == k.record.id)
    #expect(p.role == .developer)
    #expect(p.models == ["llama"])
    // The key's own limit wins; unset fields come from the tenant's defaults.
    #expect(p.keyLimits == RateLimits(requestsPerMinute: 60, tokensPerMinute: 500))
    #expect(p.keyBudget == TokenBudget(tokens: 10_000, period: .day))
    #expect(p.mayUse(model: "llama") && !p.mayUse(model: "gemma"))
    #expect(p.actor == "key:\(k.record.id)")
  }

  @Test func onlyTheMACIsStored() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    let stored = try #require(try await f.store.apiKey(id: k.record.id, scope: .all))
    #expect(stored.secretMAC.count == 32)
    #expect(stored.secretMAC == f.cp.secret.mac(keyID: k.token.keyID, secret: k.token.secret))
    try await f.store.checkpointWAL()
    let disk = allBytes(in: f.dir.path)
    #expect(!contains(disk, Data(k.token.secret.utf8)))
    #expect(!contains(disk, Data(k.plaintext.utf8)))
    #expect(contains(disk, Data(k.record.id.utf8)))  // the id is not secret, and the grep does find rows
  }

  @Test func refusals() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID) { $0.expiresAt = Date(timeIntervalSince1970: 1_800_000_000 + 3600) }
    await #expect(throws: KeyVerifyError.malformed) { try await f.cp.keys.verify("hk_short") }
    await #expect(throws: KeyVerifyError.malformed) { try await f.cp.keys.verify(String(repeating: "x", count: 10_240)) }
    var typo = Array(k.plaintext)
    typo[20] = typo[20] == "a" ? "b" : "a"
    await #expect(throws: KeyVerifyError.badChecksum) { try await f.cp.keys.verify(String(typo)) }
    await #expect(throws: KeyVerifyError.unknown) { try await f.cp.keys.verify(APIKeyToken.generate().token) }
    // Right id, another (well-formed) secret.
    await #expect(throws: KeyVerifyError.badSecret) {
      try await f.cp.keys.verify(APIKeyToken.generate(keyID: k.record.id).token)
    }
    _ = try await f.cp.keys.verify(k.plaintext)
    f.clock.advance(by: 3600)
    await #expect(throws: KeyVerifyError.expired) { try await f.cp.keys.verify(k.plaintext) }
    // Revoked and expired are told only to a holder of the right secret.
    try await f.cp.keys.revoke(id: k.record.id, by: Fixture.admin)
    await #expect(throws: KeyVerifyError.revoked) { try await f.cp.keys.verify(k.plaintext) }
    await #expect(throws: KeyVerifyError.badSecret) {
      try await f.cp.keys.verify(APIKeyToken.generate(keyID: k.record.id).token)
    }
  }

  @Test func revocationIsImmediateAndAudited() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    _ = try await f.cp.keys.verify(k.plaintext)
    let r = try await f.cp.keys.revoke(id: k.record.id, by: Fixture.admin)
    #expect(r.revoked && r.revokedAt == f.clock.now())
    await #expect(throws: KeyVerifyError.revoked) { try await f.cp.keys.verify(k.plaintext) }
    let page = try await f.cp.audit.query(AuditQuery(scope: .all, kind: .admin), by: Fixture.admin)
    let rec = try #require(page.records.last)
    #expect(rec.draft.action == "key.revoke")
    #expect(rec.draft.target == "key:\(k.record.id)")
    #expect(rec.draft.before?.contains("\"revoked\":false") == true)
    #expect(rec.draft.after?.contains("\"revoked\":true") == true)
    #expect(rec.draft.actor == "test:admin")
  }

  @Test func rotationReplacesTheSecretAndKeepsTheID() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    let r = try await f.cp.keys.rotate(id: k.record.id, by: Fixture.admin)
    #expect(r.record.id == k.record.id)
    #expect(r.plaintext != k.plaintext)
    await #expect(throws: KeyVerifyError.badSecret) { try await f.cp.keys.verify(k.plaintext) }
    #expect(try await f.cp.keys.verify(r.plaintext).keyID == k.record.id)
    try await f.cp.keys.revoke(id: k.record.id, by: Fixture.admin)
    await #expect(throws: ControlPlaneError.self) { try await f.cp.keys.rotate(id: k.record.id, by: Fixture.admin) }
  }

  @Test func lastUsedIsBatched() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    _ = try await f.cp.keys.verify(k.plaintext)
    // Not yet written, but listings already show it.
    #expect(try await f.store.apiKey(id: k.record.id, scope: .all)?.lastUsedAt == nil)
    #expect(try await f.cp.keys.list(by: Fixture.admin).first { $0.id == k.record.id }?.lastUsedAt == f.clock.now())
    f.clock.advance(by: 31)
    _ = try await f.cp.keys.verify(k.plaintext)  // the flush interval has passed: this one writes the batch
    #expect(try await f.store.apiKey(id: k.record.id, scope: .all)?.lastUsedAt == f.clock.now())
  }

  @Test func logsCarryTheKeyIDButNeverTheSecret() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    _ = try await f.cp.keys.verify(k.plaintext)
    await #expect(throws: KeyVerifyError.badSecret) { try await f.cp.keys.verify(APIKeyToken.generate(keyID: k.record.id).token) }
    let rotated = try await f.cp.keys.rotate(id: k.record.id, by: Fixture.admin)
    _ = try await f.cp.keys.verify(rotated.plaintext)
    try await f.cp.keys.revoke(id: k.record.id, by: Fixture.admin)
    await #expect(throws: KeyVerifyError.revoked) { try await f.cp.keys.verify(rotated.plaintext) }
    let logs = f.logs.all
    #expect(logs.contains(k.record.id))
    for secret in [k.token.secret, rotated.token.secret, k.plaintext, rotated.plaintext] {
      #expect(!logs.contains(secret))
      #expect(!logs.contains(String(secret.prefix(16))))
    }
  }

  @Test func noRoleEscalation() async throws {
    let f = try await Fixture()
    let t = try await f.tenant("acme")
    let tenantAdmin = try await f.cp.keys.verify(try await f.key(t.id, role: .admin).plaintext)
    // A tenant admin may make keys in its tenant, of any role up to its own...
    _ = try await f.cp.keys.create(NewAPIKey(tenantID: t.id, name: "dev", role: .developer), by: tenantAdmin)
    // ...but not in another tenant.
    await #expect(throws: ControlPlaneError.self) {
      try await f.cp.keys.create(NewAPIKey(tenantID: Tenant.systemID, name: "x", role: .viewer), by: tenantAdmin)
    }
    let op = Principal(tenantID: t.id, role: .operator, actor: "test:op")
    await #expect(throws: ControlPlaneError.forbidden(.keysWrite)) {
      try await f.cp.keys.create(NewAPIKey(tenantID: t.id, name: "x", role: .viewer), by: op)
    }
  }

  @Test func badSpecsAreRefused() async throws {
    let f = try await Fixture()
    await #expect(throws: ControlPlaneError.self) { try await f.key(Tenant.systemID, name: "") }
    await #expect(throws: ControlPlaneError.self) { try await f.key(Tenant.systemID, name: "bad\u{7}name") }
    await #expect(throws: ControlPlaneError.self) { try await f.key(Tenant.systemID) { $0.limits.requestsPerMinute = 0 } }
    await #expect(throws: ControlPlaneError.self) { try await f.key(Tenant.systemID) { $0.expiresAt = Date(timeIntervalSince1970: 0) } }
    await #expect(throws: ControlPlaneError.notFound("tenant tn_nope")) { try await f.key("tn_nope") }
    await #expect(throws: ControlPlaneError.self) { try await f.key(Tenant.systemID) { $0.userID = "us_nope" } }
  }

  @Test func updateKeepsIdentityFields() async throws {
    let f = try await Fixture()
    let k = try await f.key(Tenant.systemID)
    let u = try await f.cp.keys.update(id: k.record.id, by: Fixture.admin) {
      $0.name = "renamed"
      $0.models = ["m1"]
      $0.tenantID = "elsewhere"
      $0.secretMAC = Data(count: 32)
    }
    #expect(u.name == "renamed" && u.models == ["m1"] && u.tenantID == Tenant.systemID)
    #expect(try await f.cp.keys.verify(k.plaintext).models == ["m1"])
  }
}

@Suite struct ServerSecretTests {
  @Test func fromTheEnvironmentOrTheDataDir() async throws {
    let dir = TempDir()
    let raw = Data(repeating: 7, count: 32)
    let env = try await ServerSecret.load(directory: dir.path, cipher: nil, environment: ["HEARTH_SERVER_SECRET": raw.base64EncodedString()])
    #expect(!FileManager.default.fileExists(atPath: dir.file(ServerSecret.fileName)))
    #expect(env.mac(keyID: "a", secret: "b") == (try ServerSecret(secret: raw)).mac(keyID: "a", secret: "b"))
    await #expect(throws: ControlPlaneError.self) {
      try await ServerSecret.load(directory: dir.path, cipher: nil, environment: ["HEARTH_SERVER_SECRET": "c2hvcnQ="])
    }
    let file = try await ServerSecret.load(directory: dir.path, cipher: nil, environment: [:])
    let path = dir.file(ServerSecret.fileName)
    #expect((try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    #expect(file.mac(keyID: "a", secret: "b") != env.mac(keyID: "a", secret: "b"))
    // The same file gives the same secret on the next start.
    #expect(try await ServerSecret.load(directory: dir.path, cipher: nil, environment: [:]).mac(keyID: "a", secret: "b") == file.mac(keyID: "a", secret: "b"))
    // Key MACs and prompt MACs use different derived keys.
    #expect(file.mac(prompt: Data("a:b".utf8)) != file.mac(keyID: "a", secret: "b"))
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: path)
    await #expect(throws: ControlPlaneError.self) { try await ServerSecret.load(directory: dir.path, cipher: nil, environment: [:]) }
  }
}

@Suite struct BootstrapTests {
  @Test func firstStartMakesOneAdminKeyOnce() async throws {
    let f = try await Fixture()
    let r = try await Bootstrap.ensureAdmin(f.cp)
    let line = try #require(r.announcement)
    #expect(!line.contains("\n"))
    let created = try #require(r.created)
    #expect(line.contains(created.plaintext) && line.contains("hk_"))
    let p = try await f.cp.keys.verify(created.plaintext)
    #expect(p.isSystemAdmin)
    // Later starts make none, even once that key is revoked.
    try await f.cp.keys.revoke(id: created.record.id, by: Fixture.admin)
    let again = try await Bootstrap.ensureAdmin(f.cp)
    #expect(again.created == nil && again.announcement == nil)
  }

  @Test func anAdminKeyCanBeImportedForAutomation() async throws {
    let f = try await Fixture()
    let given = APIKeyToken.generate().token
    let keyFile = f.dir.file("admin.key")
    try Data((given + "\n").utf8).write(to: URL(fileURLWithPath: keyFile))
    let fromFile = try #require(try Bootstrap.adminKey(file: keyFile, environment: [:]))
    #expect(fromFile == given)
    #expect(try Bootstrap.adminKey(file: nil, environment: ["HEARTH_ADMIN_KEY": given]) == given)
    let r = try await Bootstrap.ensureAdmin(f.cp, adminKey: fromFile)
    #expect(r.created == nil && r.importedKeyID == String(given.dropFirst(3).prefix(12)))
    #expect(try await f.cp.keys.verify(given).isSystemAdmin)
    // Idempotent; and no second key is minted afterwards.
    #expect(try await Bootstrap.ensureAdmin(f.cp, adminKey: given).importedKeyID == nil)
    #expect(try await Bootstrap.ensureAdmin(f.cp).created == nil)
    // Same id with another secret is refused; a malformed one too.
    let clash = APIKeyToken.generate(keyID: r.importedKeyID).token
    await #expect(throws: ControlPlaneError.self) { try await Bootstrap.ensureAdmin(f.cp, adminKey: clash) }
    await #expect(throws: ControlPlaneError.self) { try await Bootstrap.ensureAdmin(f.cp, adminKey: "hk_nope") }
  }
}

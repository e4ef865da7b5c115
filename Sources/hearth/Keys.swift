import ArgumentParser
import ControlPlane
import Foundation

/// `hearth keys`: API keys of the data dir.
struct KeysCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "keys", abstract: "Create, list, revoke and rotate API keys; rotate the master key.",
    subcommands: [Create.self, List.self, Revoke.self, Rotate.self, RotateMaster.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create an API key and print it (once) on stdout.")
    @OptionGroup var data: DataDirOptions
    @Option(help: "Tenant id or name.") var tenant = Tenant.systemID
    @Option(help: "A name for the key.") var name: String
    @Option(help: "What the key is for.") var description = ""
    @Option(help: "admin, operator, developer, auditor or viewer.") var role = "developer"
    @Option(help: "The user (name or id, in the tenant) who holds the key.") var user: String?
    @Option(name: .customLong("model"), help: "A model the key may call (repeatable; none: all).") var models: [String] = []
    @Option(help: "Expiry: ISO 8601 time or a duration (30d, 12h).") var expires: String?
    @OptionGroup var limits: LimitOptions
    @Option(help: "Token budget: N/day or N/month.") var budget: String?

    func validate() throws {
      if Role(name: role) == nil { throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))") }
    }

    func run() async throws {
      let cp = await data.open(mustExist: false)
      let tid = await tenantID(tenant, cp)
      var spec = NewAPIKey(tenantID: tid, name: name, description: description, role: Role(name: role)!, models: models)
      if let user { spec.userID = await orFail { try await cp.users.get(user, tenantID: tid, by: cliOperator).id } }
      spec.expiresAt = expires.map { parseTime($0, option: "--expires", relative: true) }
      spec.limits = limits.apply(to: .none)
      if let budget { spec.budget = parseBudget(budget)! }
      let created = await orFail { try await cp.keys.create(spec, by: cliOperator) }
      printNote("created API key \(created.record.id) in tenant \(tid) (role \(created.record.role.rawValue)); it is shown once, store it now")
      printLine(created.plaintext)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List API keys (never their secrets).")
    @OptionGroup var data: DataDirOptions
    @Option(help: "Only this tenant (id or name).") var tenant: String?
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
      let cp = await data.open()
      var tid: String?
      if let tenant { tid = await tenantID(tenant, cp) }
      let keys = await orFail { try await cp.keys.list(tenantID: tid, by: cliOperator) }
      if json { return printJSON(keys.map(KeyView.init)) }
      let now = Date()
      let rows = keys.map { k in
        [
          k.id, k.tenantID, k.name, k.role.rawValue, k.revoked ? "revoked" : (k.expiresAt.map { $0 <= now } ?? false) ? "expired" : "active",
          k.models.isEmpty ? "*" : k.models.joined(separator: ","), dateText(k.expiresAt), dateText(k.lastUsedAt), limitsText(k.limits),
        ]
      }
      printLine(formatTable(["ID", "TENANT", "NAME", "ROLE", "STATUS", "MODELS", "EXPIRES", "LAST USED", "LIMITS"], rows))
    }
  }

  struct Revoke: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Revoke an API key; it stops working at once.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "The key id (the 12 characters after hk_).") var id: String

    func run() async throws {
      let cp = await data.open()
      let k = await orFail { try await cp.keys.revoke(id: keyID(id), by: cliOperator) }
      printNote("revoked API key \(k.id)")
    }
  }

  struct Rotate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Give an API key a new secret (same id, settings and history); print the new key once.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "The key id.") var id: String

    func run() async throws {
      let cp = await data.open()
      let created = await orFail { try await cp.keys.rotate(id: keyID(id), by: cliOperator) }
      printNote("rotated API key \(created.record.id): the old secret no longer works; the new key is shown once")
      printLine(created.plaintext)
    }
  }

  struct RotateMaster: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "rotate-master",
      abstract: "Re-wrap every data key under a new master key (ciphertexts are not rewritten).",
      discussion: """
        The current master key comes from --master-key-file or HEARTH_MASTER_KEY. A running server keeps
        working with the data keys it holds in memory; restart it with the new key file when convenient.
        Keep the old key until every server has been restarted.
        """)
    @OptionGroup var data: DataDirOptions
    @Option(name: .customLong("new-master-key-file"), help: "The new master key (32 bytes, base64 or raw; mode 0600).")
    var newMasterKeyFile: String

    func run() async throws {
      guard MasterKeySource.resolve(file: data.masterKeyFile) != nil else {
        fail("no current master key: give --master-key-file or HEARTH_MASTER_KEY (to turn encryption on, just start with one)", code: 64)
      }
      let newKey = await orFail { try MasterKeySource.file(newMasterKeyFile).load() }
      let cp = await data.open()
      guard let cipher = cp.cipher else { fail("encryption at rest is not configured", code: 1) }
      if cipher.provider.keyID == newKey.keyID { fail("the new master key is the current one", code: 64) }
      let n = await orFail { try await cipher.rotateMaster(to: newKey) }
      let event = AuditDraft(
        time: Date(), kind: .security, tenantID: Tenant.systemID, actor: cliOperator.actor, action: "master-key.rotate",
        target: "master-key:\(newKey.keyID)", detail: "\(n) data keys re-wrapped under \(newKey.keyID)")
      await orFail { try await cp.audit.append([event]) }
      printNote("re-wrapped \(n) data keys under master key \(newKey.keyID); start servers with the new key file from now on")
    }
  }
}

/// Refuses a key id of the wrong shape before any lookup.
func keyID(_ s: String) -> String {
  // Accept a whole key too, but only to take its id.
  if let t = try? APIKeyToken.parse(s) { return t.keyID }
  guard APIKeyToken.isValidKeyID(s) else { fail("'\(s.prefix(40))' is not a key id (12 base62 characters)", code: 64) }
  return s
}

/// A key as listed in JSON: no MAC.
typealias KeyView = APIKeyView

import ArgumentParser
import ControlPlane
import Foundation

/// `hearth tenants`: tenants and their policies.
struct TenantsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "tenants", abstract: "Create, list, show and update tenants.",
    subcommands: [Create.self, List.self, Show.self, Update.self])

  /// Policy options shared by create and update.
  struct PolicyOptions: ParsableArguments {
    @Option(name: .customLong("store-prompts"), help: "Keep prompt contents, encrypted, in the audit trail (true/false; needs a master key).")
    var storePrompts: Bool?
    @Option(name: .customLong("rpm"), help: "Tenant-wide requests per minute (0: no limit).") var rpm: Int?
    @Option(name: .customLong("tpm"), help: "Tenant-wide tokens per minute (0: no limit).") var tpm: Int?
    @Option(name: .customLong("concurrency"), help: "Tenant-wide concurrent requests (0: no limit).") var concurrency: Int?
    @Option(name: .customLong("key-rpm"), help: "Default requests per minute for keys without their own (0: none).") var keyRPM: Int?
    @Option(name: .customLong("key-tpm"), help: "Default tokens per minute for keys without their own (0: none).") var keyTPM: Int?
    @Option(name: .customLong("key-concurrency"), help: "Default concurrent requests for keys (0: none).") var keyConcurrency: Int?
    @Option(help: "Tenant-wide token budget: N/day, N/month or none.") var budget: String?

    func validate() throws {
      for (n, v) in [("--rpm", rpm), ("--tpm", tpm), ("--concurrency", concurrency), ("--key-rpm", keyRPM), ("--key-tpm", keyTPM), ("--key-concurrency", keyConcurrency)] {
        if let v, v < 0 { throw ValidationError("\(n) must be 0 or more") }
      }
    }

    func apply(to base: TenantPolicy) -> TenantPolicy {
      var p = base
      if let storePrompts { p.storePrompts = storePrompts }
      p.tenantLimits = applyLimits(rpm: rpm, tpm: tpm, concurrency: concurrency, to: p.tenantLimits)
      p.defaultKeyLimits = applyLimits(rpm: keyRPM, tpm: keyTPM, concurrency: keyConcurrency, to: p.defaultKeyLimits)
      if let budget { p.budget = parseBudget(budget)! }
      return p
    }
  }

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a tenant.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "The tenant's name (unique).") var name: String
    @OptionGroup var policy: PolicyOptions

    func run() async throws {
      let cp = await data.open(mustExist: false)
      let t = await orFail { try await cp.tenants.create(name: name, policy: policy.apply(to: TenantPolicy()), by: cliOperator) }
      printNote("created tenant \(t.name)")
      printLine(t.id)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List tenants.")
    @OptionGroup var data: DataDirOptions
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
      let cp = await data.open()
      let tenants = await orFail { try await cp.tenants.list(by: cliOperator) }
      if json { return printJSON(tenants) }
      let rows = tenants.map { t in
        [t.id, t.name, t.policy.storePrompts ? "yes" : "no", limitsText(t.policy.tenantLimits), t.policy.budget?.text ?? "-", dateText(t.createdAt)]
      }
      printLine(formatTable(["ID", "NAME", "KEEPS PROMPTS", "LIMITS", "BUDGET", "CREATED"], rows))
    }
  }

  struct Show: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show a tenant's policy, keys, users and this month's usage.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "Tenant id or name.") var tenant: String
    @Flag(help: "JSON output.") var json = false

    struct View: Encodable {
      var tenant: Tenant
      var keys: Int
      var activeKeys: Int
      var users: Int
      var usageThisMonth: [UsageRow]
    }

    func run() async throws {
      let cp = await data.open()
      let view: View = await orFail {
        let t = try await cp.tenants.get(tenant, by: cliOperator)
        let keys = try await cp.keys.list(tenantID: t.id, by: cliOperator)
        let users = try await cp.users.list(tenantID: t.id, by: cliOperator)
        let month = String(ISO8601DateFormatter().string(from: Date()).prefix(7))
        let usage = try await cp.usage.usage(
          UsageQuery(scope: .tenant(t.id), fromDay: month + "-01", toDay: month + "-31", grouping: .month), by: cliOperator)
        return View(tenant: t, keys: keys.count, activeKeys: keys.filter { !$0.revoked }.count, users: users.count, usageThisMonth: usage)
      }
      if json { return printJSON(view) }
      let p = view.tenant.policy
      let tokens = view.usageThisMonth.map(\.totalTokens).reduce(0, +)
      printLine(
        """
        id:             \(view.tenant.id)
        name:           \(view.tenant.name)
        created:        \(dateText(view.tenant.createdAt))
        keeps prompts:  \(p.storePrompts ? "yes (encrypted)" : "no")
        tenant limits:  \(limitsText(p.tenantLimits))
        key defaults:   \(limitsText(p.defaultKeyLimits))
        budget:         \(p.budget?.text ?? "none")
        keys:           \(view.keys) (\(view.activeKeys) not revoked)
        users:          \(view.users)
        tokens (month): \(tokens)
        """)
    }
  }

  struct Update: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Rename a tenant or change its policy.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "Tenant id or name.") var tenant: String
    @Option(help: "A new name.") var name: String?
    @OptionGroup var policy: PolicyOptions

    func run() async throws {
      let cp = await data.open()
      let t = await orFail {
        try await cp.tenants.update(tenant, by: cliOperator) { t in
          if let name { t.name = name }
          t.policy = policy.apply(to: t.policy)
        }
      }
      printNote("updated tenant \(t.name)")
    }
  }
}

import ArgumentParser
import ControlPlane
import Foundation

/// `hearth users`: local and LDAP users of tenants.
struct UsersCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "users", abstract: "Create, list and remove users.", subcommands: [Create.self, List.self, Remove.self])

  struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Create a user in a tenant.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "The user's name (unique in the tenant; the LDAP uid for LDAP users).") var name: String
    @Option(help: "Tenant id or name.") var tenant = Tenant.systemID
    @Option(help: "admin, operator, developer, auditor or viewer.") var role: String
    @Option(help: "local or ldap.") var source = "local"

    func validate() throws {
      if Role(name: role) == nil { throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))") }
      if UserSource(rawValue: source) == nil { throw ValidationError("--source must be local or ldap") }
    }

    func run() async throws {
      let cp = await data.open(mustExist: false)
      let tid = await tenantID(tenant, cp)
      let u = await orFail {
        try await cp.users.create(tenantID: tid, name: name, role: Role(name: role)!, source: UserSource(rawValue: source)!, by: cliOperator)
      }
      printNote("created user \(u.name) in tenant \(tid) (role \(u.role.rawValue))")
      printLine(u.id)
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List users.")
    @OptionGroup var data: DataDirOptions
    @Option(help: "Only this tenant (id or name).") var tenant: String?
    @Flag(help: "JSON output.") var json = false

    func run() async throws {
      let cp = await data.open()
      var tid: String?
      if let tenant { tid = await tenantID(tenant, cp) }
      let users = await orFail { try await cp.users.list(tenantID: tid, by: cliOperator) }
      if json { return printJSON(users) }
      printLine(formatTable(["ID", "TENANT", "NAME", "ROLE", "SOURCE", "CREATED"], users.map { [$0.id, $0.tenantID, $0.name, $0.role.rawValue, $0.source.rawValue, dateText($0.createdAt)] }))
    }
  }

  struct Remove: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Remove a user and every API key it holds.")
    @OptionGroup var data: DataDirOptions
    @Argument(help: "User id, or name with --tenant.") var user: String
    @Option(help: "Tenant id or name (to find the user by name).") var tenant = Tenant.systemID

    func run() async throws {
      let cp = await data.open()
      let tid = await tenantID(tenant, cp)
      await orFail {
        let u = try await cp.users.get(user, tenantID: tid, by: cliOperator)
        let keys = try await cp.keys.list(tenantID: u.tenantID, userID: u.id, by: cliOperator)
        try await cp.users.remove(u.id, by: cliOperator)
        printNote("removed user \(u.name) and \(keys.count) API key\(keys.count == 1 ? "" : "s")")
      }
    }
  }
}

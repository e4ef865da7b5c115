import ArgumentParser
import ControlPlane
import Foundation

/// `hearth audit`: check, export and checkpoint the tamper-evident audit trail.
struct AuditCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "audit", abstract: "Verify, export and checkpoint the audit trail.",
    subcommands: [Verify.self, Export.self, Checkpoint.self, PublicKey.self])

  struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Check the hash chain and every signed checkpoint; exit 1 at the first bad record.")
    @OptionGroup var data: DataDirOptions
    @Option(name: .customLong("public-key"), help: "Check signatures with this PEM key (exported earlier) instead of the data dir's.")
    var publicKey: String?

    func run() async throws {
      let cp = await data.open()
      var pinned: AuditVerifierKey?
      if let publicKey {
        guard let pem = try? String(contentsOfFile: publicKey, encoding: .utf8) else { fail("cannot read \(publicKey)", code: 1) }
        pinned = await orFail { try AuditVerifierKey(pem: pem) }
      }
      let v = await orFail { try await cp.audit.verify(trusting: pinned) }
      guard let first = v.firstProblem else {
        let unsigned = v.records - Int(v.signedThrough)
        printLine("audit trail ok: \(v.records) records, \(v.checkpoints) signed checkpoints, signed through record \(v.signedThrough)\(unsigned > 0 ? " (\(unsigned) newer, not yet checkpointed)" : "")")
        return
      }
      for p in v.problems.dropFirst() { printNote("also: \(p.message)") }
      fail("audit trail tampered: \(first.message)\(v.problems.count > 1 ? " (\(v.problems.count - 1) more problems above)" : "")", code: 1)
    }
  }

  struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write audit records as JSON lines, for a SIEM.")
    @OptionGroup var data: DataDirOptions
    @Option(help: "From this time on (ISO 8601, or a duration back from now: 24h, 7d).") var since: String?
    @Option(help: "Before this time (ISO 8601).") var until: String?
    @Option(help: "Only this tenant (id or name).") var tenant: String?
    @Option(help: "Output format.") var format = "jsonl"
    @Option(help: "Write to this file (mode 0600) instead of stdout.") var output: String?

    func run() async throws {
      guard let fmt = AuditExportFormat(rawValue: format) else { fail("--format: only jsonl is supported", code: 64) }
      let cp = await data.open()
      let from = since.map { s -> Date in
        let ahead = parseTime(s, option: "--since", relative: true)
        // A duration counts back from now.
        return ahead > Date() ? Date().addingTimeInterval(-ahead.timeIntervalSinceNow) : ahead
      }
      let to = until.map { parseTime($0, option: "--until") }
      var scope = TenantScope.all
      if let tenant { scope = .tenant(await tenantID(tenant, cp)) }
      var handle = FileHandle.standardOutput
      if let output {
        let fd = Foundation.open(output, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        guard fd >= 0 else { fail("cannot write \(output)", code: 1) }
        handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
      }
      let out = handle
      let n = await orFail { try await cp.audit.export(since: from, until: to, scope: scope, format: fmt, by: cliOperator) { out.write(Data($0.utf8)) } }
      if output != nil { printNote("exported \(n) records to \(output!)") }
    }
  }

  struct Checkpoint: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Sign a checkpoint over the newest record now.")
    @OptionGroup var data: DataDirOptions

    func run() async throws {
      let cp = await data.open()
      if let c = await orFail({ try await cp.audit.checkpoint() }) {
        printLine("checkpoint \(c.seq) signs record \(c.recordSeq) (key \(c.signingKeyID))")
      } else {
        printLine("nothing new to checkpoint")
      }
    }
  }

  struct PublicKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      commandName: "public-key", abstract: "Print the Ed25519 public key that verifies checkpoints (PEM), for auditors.")
    @OptionGroup var data: DataDirOptions

    func run() async throws {
      let cp = await data.open()
      printLine(cp.audit.verifierKey.pem)
    }
  }
}

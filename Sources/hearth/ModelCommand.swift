import ArgumentParser
import ControlPlane
import Foundation
import Registry
import Server

/// `hearth model ...`: the model registry (content-addressed GGUF files with manifests).
struct ModelCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "model",
    abstract: "The model registry: import, list, show, verify, remove and sign model versions.",
    subcommands: [ModelImport.self, ModelList.self, ModelShow.self, ModelVerify.self, ModelRemove.self, ModelSign.self, ModelKeygen.self])
}

/// Where the registry lives and which signatures it trusts.
struct RegistryOptions: ParsableArguments {
  @Option(name: .customLong("data-dir"), help: "Hearth's state directory (default: $HEARTH_HOME or ~/.hearth).")
  var dataDir: String?
  @Option(name: .customLong("trusted-keys"), help: "Directory of trusted Ed25519 public keys, *.pub PEM files (default: DATA_DIR/trusted-keys).")
  var trustedKeys: String?
  @Flag(name: .customLong("require-signature"), help: "Refuse models without a valid signature by a trusted key.")
  var requireSignature = false

  /// The same data dir `hearth serve` and the other commands use.
  var directory: String { dataDir ?? ControlPlaneConfig.defaultDataDir() }

  func open() -> ModelRegistry {
    let keys = trustedKeys ?? ModelRegistry.defaultTrustedKeysDirectory(dataDirectory: directory)
    if let t = trustedKeys, !FileManager.default.fileExists(atPath: t) { fail("--trusted-keys: no such directory: \(t)", code: 64) }
    let policy: SignaturePolicy
    do { policy = try SignaturePolicy(trustedKeysDirectory: keys, required: requireSignature) } catch { failRegistry(error) }
    return ModelRegistry(dataDirectory: directory, policy: policy)
  }
}

/// The master key for versions encrypted at rest (`model import --encrypt`, `model verify`).
struct MasterKeyOption: ParsableArguments {
  @Option(name: .customLong("master-key-file"), help: "Master key for encryption at rest (default: $HEARTH_MASTER_KEY, base64).")
  var masterKeyFile: String?

  /// The sealer over the data dir's envelope keys, or nil without a master key (or exits with one
  /// line when `required`). Opening the control plane checks the key against the data dir's.
  func sealer(dataDir: String, required: Bool) async -> EnvelopeBlobSealer? {
    guard let source = MasterKeySource.resolve(file: masterKeyFile) else {
      if required { fail("encryption at rest needs a master key: --master-key-file FILE or HEARTH_MASTER_KEY", code: 64) }
      return nil
    }
    var config = ControlPlaneConfig(dataDir: dataDir, masterKey: source)
    config.logger.logLevel = .warning
    let cp = await orFail { try await ControlPlaneServices.open(config) }
    return cp.cipher.map(EnvelopeBlobSealer.init)
  }
}

/// Writes the admin audit record of a registry change (import, remove, sign), as the local operator,
/// with the manifest before and after. The registry's files and the audit trail are two stores, so
/// the record follows the change; when it cannot be written the command says so and exits 1, so the
/// unrecorded change is never silent.
func auditRegistryChange(
  dataDir: String, key: MasterKeyOption, action: String, target: ModelManifest, before: ModelManifest?, after: ModelManifest?
) async {
  var config = ControlPlaneConfig(dataDir: dataDir, masterKey: MasterKeySource.resolve(file: key.masterKeyFile))
  config.logger.logLevel = .warning
  do {
    let cp = try await ControlPlaneServices.open(config)
    let op = cliOperator
    _ = try await cp.audit.append([
      AuditDraft(
        time: cp.clock.now(), kind: .admin, tenantID: Tenant.systemID, actor: op.actor, action: action, target: "model:\(target.reference)",
        before: before.map { String(decoding: ModelRegistry.encodeJSON($0), as: UTF8.self) },
        after: after.map { String(decoding: ModelRegistry.encodeJSON($0), as: UTF8.self) })
    ])
  } catch {
    fail("\(action) \(target.reference) was done but could not be audited: \(error)", code: 1)
  }
}

/// Exits with one line for a registry error: 64 for a malformed name, version, digest or key,
/// 2 for a bad or corrupt model file, 1 for anything else (not found, I/O, signatures).
func failRegistry(_ error: RegistryError) -> Never {
  switch error {
  case .invalidName, .invalidVersion, .invalidDigest, .badKey: fail(error.description, code: 64)
  case .sourceUnreadable, .invalidModel, .digestMismatch, .unexpectedDigest, .sizeMismatch, .blobMissing, .sealing: fail(error.description, code: 2)
  default: fail(error.description, code: 1)
  }
}

/// Parses `name` or `name:version`, or exits (64).
func modelReference(_ s: String) -> ModelReference {
  do { return try ModelReference(parsing: s) } catch { failRegistry(error) }
}

/// "134.5M" style parameter counts.
func formatCount(_ n: Int) -> String {
  if n >= 1_000_000_000 { return String(format: "%.2fB", Double(n) / 1e9) }
  if n >= 1_000_000 { return String(format: "%.1fM", Double(n) / 1e6) }
  if n >= 1_000 { return String(format: "%.1fK", Double(n) / 1e3) }
  return String(n)
}

/// One line describing a manifest, for import and verify.
func manifestSummary(_ m: ModelManifest) -> String {
  let types = m.quantTypes.prefix(3).map(\.type).joined(separator: "+")
  return "\(m.reference) \(m.digest) (\(formatBytes(m.size)), \(m.architecture), \(formatCount(m.parameters)) params, \(types))"
}

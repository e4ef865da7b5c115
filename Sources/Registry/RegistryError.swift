/// Everything the model registry can refuse. Each case names the model or file and the problem,
/// so the CLI prints it as one line and the server can map it to a status code.
public enum RegistryError: Error, Equatable, Sendable, CustomStringConvertible {
  case invalidName(String, reason: String)
  case invalidVersion(String, reason: String)
  case invalidDigest(String)
  case notFound(name: String, version: String?)
  case alreadyExists(name: String, version: String)
  /// The file given to import cannot be read.
  case sourceUnreadable(path: String, reason: String)
  /// The file is not a model Hearth can serve (bad GGUF, unknown architecture, bad tokenizer...).
  case invalidModel(path: String, reason: String)
  /// The stored bytes no longer hash to the manifest's digest: the model is refused.
  case digestMismatch(model: String, expected: String, actual: String)
  /// The file given to import does not hash to the digest the caller pinned.
  case unexpectedDigest(path: String, expected: String, actual: String)
  case sizeMismatch(model: String, expected: Int, actual: Int)
  case blobMissing(model: String, path: String)
  case corruptManifest(path: String, reason: String)
  case io(path: String, operation: String, reason: String)
  case signatureRequired(model: String)
  case signatureInvalid(model: String, reason: String)
  case untrustedKey(model: String, keyID: String)
  case badKey(path: String, reason: String)
  /// The version is encrypted at rest and this caller has no key to open it.
  case sealed(model: String)
  /// Encrypting or decrypting a stored file failed (wrong key, tampered ciphertext...).
  case sealing(model: String, reason: String)

  public var description: String {
    switch self {
    case .invalidName(let n, let r): return "invalid model name '\(Self.printable(n))': \(r)"
    case .invalidVersion(let v, let r): return "invalid model version '\(Self.printable(v))': \(r)"
    case .invalidDigest(let d): return "invalid digest '\(Self.printable(d))': expected sha256: followed by 64 lowercase hex characters"
    case .notFound(let n, let v): return v.map { "no model \(n) version \($0) in the registry" } ?? "no model \(n) in the registry"
    case .alreadyExists(let n, let v): return "model \(n) version \(v) already exists"
    case .sourceUnreadable(let p, let r): return "cannot read \(p): \(r)"
    case .invalidModel(let p, let r): return "\(p) is not a usable model: \(r)"
    case .digestMismatch(let m, let e, let a):
      return "model \(m) is corrupt: its stored bytes hash to \(a), not \(e); refusing to use it"
    case .unexpectedDigest(let p, let e, let a): return "\(p) hashes to \(a), not the expected \(e); not imported"
    case .sizeMismatch(let m, let e, let a):
      return "model \(m) is corrupt: its stored file has \(a) bytes, not \(e); refusing to use it"
    case .blobMissing(let m, let p): return "model \(m) is missing its stored file \(p)"
    case .corruptManifest(let p, let r): return "registry manifest \(p) is unreadable: \(r)"
    case .io(let p, let op, let r): return "\(op) \(p): \(r)"
    case .signatureRequired(let m): return "model \(m) has no signature and the registry requires signed models"
    case .signatureInvalid(let m, let r): return "model \(m) has an invalid signature: \(r)"
    case .untrustedKey(let m, let k): return "model \(m) is signed by key \(k), which is not among the trusted keys"
    case .badKey(let p, let r): return "key file \(p): \(r)"
    case .sealed(let m):
      return "model \(m) is encrypted at rest; opening it needs the master key (--master-key-file or HEARTH_MASTER_KEY)"
    case .sealing(let m, let r): return "model \(m): encrypted file refused: \(r)"
    }
  }

  /// Names and versions come from users: control characters are escaped so an error line stays one line.
  static func printable(_ s: String) -> String {
    let limited = s.count > 80 ? String(s.prefix(80)) + "..." : s
    return limited.unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7F ? "\\u{\(String($0.value, radix: 16))}" : String($0) }.joined()
  }
}

import Crypto
import Foundation

/// A secret kept in a file of the data dir (mode 0600): the server secret, the audit signing key.
///
/// One line: `hearth-secret v1 plain <base64>` without a master key, or `hearth-secret v1 sealed
/// <base64 envelope>` with one. A plain file found while a master key is configured is sealed in place
/// (atomic rename), so turning encryption on later covers existing secrets.
enum SecretFile {
  static let plainTag = "hearth-secret v1 plain "
  static let sealedTag = "hearth-secret v1 sealed "

  /// Reads the secret at `path`, creating it with `generate()` if absent.
  static func loadOrCreate(path: String, cipher: EnvelopeCipher?, context: String, generate: () -> Data) async throws -> Data {
    let fm = FileManager.default
    if !fm.fileExists(atPath: path) {
      let secret = generate()
      let line = try await encode(secret, cipher: cipher, context: context)
      if try writeNew(path, line) { return secret }
      // Another process created it first: use theirs.
    }
    let attrs = try fm.attributesOfItem(atPath: path)
    if let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
      throw ControlPlaneError.invalid("\(path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 it")
    }
    let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
      .trimmingCharacters(in: .whitespacesAndNewlines)
    if text.hasPrefix(sealedTag) {
      guard let cipher else { throw EncryptionError.masterKeyRequired(path) }
      guard let blob = Data(base64Encoded: String(text.dropFirst(sealedTag.count))) else {
        throw EncryptionError.malformedCiphertext("\(path) is not valid base64")
      }
      return try await cipher.open(blob, context: context)
    }
    guard text.hasPrefix(plainTag), let secret = Data(base64Encoded: String(text.dropFirst(plainTag.count))) else {
      throw ControlPlaneError.invalid("\(path) is not a Hearth secret file")
    }
    if let cipher {
      try replace(path, try await encode(secret, cipher: cipher, context: context))
    }
    return secret
  }

  static func encode(_ secret: Data, cipher: EnvelopeCipher?, context: String) async throws -> String {
    guard let cipher else { return plainTag + secret.base64EncodedString() + "\n" }
    return sealedTag + (try await cipher.seal(secret, context: context)).base64EncodedString() + "\n"
  }

  /// Writes a temporary file (0600) and links it into place; false if `path` already exists.
  static func writeNew(_ path: String, _ line: String) throws -> Bool {
    let tmp = try writeTemp(path, line)
    defer { unlink(tmp) }
    if link(tmp, path) == 0 { return true }
    if errno == EEXIST { return false }
    throw ControlPlaneError.storage("cannot create \(path): \(String(cString: strerror(errno)))")
  }

  static func replace(_ path: String, _ line: String) throws {
    let tmp = try writeTemp(path, line)
    guard rename(tmp, path) == 0 else {
      unlink(tmp)
      throw ControlPlaneError.storage("cannot replace \(path): \(String(cString: strerror(errno)))")
    }
  }

  static func writeTemp(_ path: String, _ line: String) throws -> String {
    let tmp = path + ".tmp-" + Base62.random(count: 8)
    let h = try EnvelopeCipher.createPrivateFile(tmp)
    do {
      try h.write(contentsOf: Data(line.utf8))
      try h.synchronize()
      try h.close()
    } catch {
      unlink(tmp)
      throw error
    }
    return tmp
  }
}

/// The server secret: keys the API key HMACs and the prompt HMACs of the audit trail. From
/// `HEARTH_SERVER_SECRET` (base64, at least 32 bytes) or the file `server-secret` in the data dir.
public struct ServerSecret: Sendable {
  public static let fileName = "server-secret"
  let keyMAC: SymmetricKey
  let promptMAC: SymmetricKey

  /// Derives one subkey per use with HKDF-SHA256, so a MAC made for one purpose is useless for another.
  public init(secret: Data) throws(ControlPlaneError) {
    guard secret.count >= 32 else { throw .invalid("the server secret must be at least 32 bytes") }
    let ikm = SymmetricKey(data: secret)
    let salt = Data("hearth-server-secret".utf8)
    keyMAC = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Data("api-key-mac v1".utf8), outputByteCount: 32)
    promptMAC = HKDF<SHA256>.deriveKey(inputKeyMaterial: ikm, salt: salt, info: Data("audit-prompt-mac v1".utf8), outputByteCount: 32)
  }

  /// From the environment if set, otherwise from (or newly into) the data dir.
  public static func load(directory: String, cipher: EnvelopeCipher?, environment: [String: String] = ProcessInfo.processInfo.environment) async throws -> ServerSecret {
    if let v = environment["HEARTH_SERVER_SECRET"], !v.isEmpty {
      guard let d = Data(base64Encoded: v.trimmingCharacters(in: .whitespacesAndNewlines)), d.count >= 32 else {
        throw ControlPlaneError.invalid("HEARTH_SERVER_SECRET must be at least 32 bytes in base64")
      }
      return try ServerSecret(secret: d)
    }
    let path = (directory as NSString).appendingPathComponent(fileName)
    let secret = try await SecretFile.loadOrCreate(path: path, cipher: cipher, context: "secret.server") {
      SymmetricKey(size: .bits256).withUnsafeBytes { Data($0) }
    }
    return try ServerSecret(secret: secret)
  }

  /// HMAC-SHA256 of an API key's secret, bound to its key id.
  public func mac(keyID: String, secret: String) -> Data {
    Data(HMAC<SHA256>.authenticationCode(for: Data("\(keyID):\(secret)".utf8), using: keyMAC))
  }

  /// HMAC-SHA256 of a prompt, for the audit trail.
  public func mac(prompt: Data) -> Data {
    Data(HMAC<SHA256>.authenticationCode(for: prompt, using: promptMAC))
  }
}

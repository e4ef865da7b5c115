import Crypto
import Foundation

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The private half of a model-signing key pair.
public typealias ModelSigningKey = Curve25519.Signing.PrivateKey

/// Ed25519 keys for model signatures, read from and written to PEM files as OpenSSL writes them
/// (`openssl genpkey -algorithm ed25519`, `openssl pkey -pubout`), so keys can be made either way.
public enum ModelSigningKeys {
  // RFC 8410 DER headers: PKCS#8 PrivateKeyInfo and SubjectPublicKeyInfo for OID 1.3.101.112.
  static let pkcs8Prefix: [UInt8] = [0x30, 0x2E, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20]
  static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

  public static func generate() -> Curve25519.Signing.PrivateKey { Curve25519.Signing.PrivateKey() }

  public static func privatePEM(_ key: Curve25519.Signing.PrivateKey) -> String {
    pem("PRIVATE KEY", pkcs8Prefix + key.rawRepresentation)
  }

  public static func publicPEM(_ key: Curve25519.Signing.PublicKey) -> String {
    pem("PUBLIC KEY", spkiPrefix + key.rawRepresentation)
  }

  /// `mk_` + the first 8 bytes of SHA-256 of the raw public key, in hex.
  public static func keyID(_ key: Curve25519.Signing.PublicKey) -> String {
    "mk_" + Digest(sha256: SHA256.hash(data: key.rawRepresentation)).hex.prefix(16)
  }

  /// Writes `key` to `privatePath` (PEM, mode 0600) and its public half to `privatePath.pub`
  /// (for a trusted-keys directory). Refuses to overwrite either. Returns the public key's path.
  @discardableResult
  public static func writeKeyPair(_ key: ModelSigningKey, privatePath: String) throws(RegistryError) -> String {
    let publicPath = privatePath + ".pub"
    for p in [privatePath, publicPath] where FileManager.default.fileExists(atPath: p) {
      throw .io(path: p, operation: "not overwriting", reason: "a file exists")
    }
    try FileIO.createExclusive(privatePath, Data(privatePEM(key).utf8), mode: 0o600)
    do { try FileIO.createExclusive(publicPath, Data(publicPEM(key.publicKey).utf8), mode: 0o644) } catch {
      unlink(privatePath)
      throw error
    }
    return publicPath
  }

  public static func loadPrivate(path: String) throws(RegistryError) -> Curve25519.Signing.PrivateKey {
    let raw = try derBody(path: path, label: "PRIVATE KEY", prefix: pkcs8Prefix)
    do { return try Curve25519.Signing.PrivateKey(rawRepresentation: raw) } catch {
      throw .badKey(path: path, reason: "not an Ed25519 private key")
    }
  }

  public static func loadPublic(path: String) throws(RegistryError) -> Curve25519.Signing.PublicKey {
    let raw = try derBody(path: path, label: "PUBLIC KEY", prefix: spkiPrefix)
    do { return try Curve25519.Signing.PublicKey(rawRepresentation: raw) } catch {
      throw .badKey(path: path, reason: "not an Ed25519 public key")
    }
  }

  /// Every `*.pub` file in `directory`, keyed by key id. A missing directory holds no keys.
  public static func loadTrusted(directory: String) throws(RegistryError) -> [String: Curve25519.Signing.PublicKey] {
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return [:] }
    var keys: [String: Curve25519.Signing.PublicKey] = [:]
    for n in names.sorted() where n.hasSuffix(".pub") {
      let k = try loadPublic(path: (directory as NSString).appendingPathComponent(n))
      keys[keyID(k)] = k
    }
    return keys
  }

  static func pem(_ label: String, _ der: [UInt8]) -> String {
    "-----BEGIN \(label)-----\n\(Data(der).base64EncodedString())\n-----END \(label)-----\n"
  }

  static func derBody(path: String, label: String, prefix: [UInt8]) throws(RegistryError) -> Data {
    // Key files are a few hundred bytes; anything large is not one.
    guard let size = FileIO.regularFileSize(path) else { throw .badKey(path: path, reason: "no such file") }
    guard size < 4096, let text = try? String(contentsOfFile: path, encoding: .utf8) else {
      throw .badKey(path: path, reason: "not a PEM file")
    }
    let lines = text.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }
    guard let begin = lines.firstIndex(of: "-----BEGIN \(label)-----"), let end = lines.firstIndex(of: "-----END \(label)-----"), begin < end,
      let der = Data(base64Encoded: lines[(begin + 1)..<end].joined())
    else { throw .badKey(path: path, reason: "expected a PEM '\(label)' block") }
    guard der.count == prefix.count + 32, Array(der.prefix(prefix.count)) == prefix else {
      throw .badKey(path: path, reason: "not an Ed25519 key (RFC 8410)")
    }
    return der.suffix(32)
  }
}

/// What a model signature vouches for: the file's digest and size, in a fixed text form, so the
/// signature survives renaming and re-importing the same bytes under another name or version.
enum SignedStatement {
  static func bytes(digest: Digest, size: Int) -> Data {
    Data("\(ModelSignature.format)\ndigest \(digest.value)\nsize \(size)\n".utf8)
  }
}

/// Which signatures the registry accepts. A signature by a trusted key is always checked; with
/// `required`, a model needs one that verifies, at import and at open. Without it, signatures by
/// keys the registry does not know are ignored, as if the model were unsigned.
public struct SignaturePolicy: Sendable {
  public var trusted: [String: Curve25519.Signing.PublicKey]
  public var required: Bool

  public init(trusted: [String: Curve25519.Signing.PublicKey] = [:], required: Bool = false) {
    self.trusted = trusted
    self.required = required
  }

  /// Trusted keys from a directory of `.pub` files (the registry's `trusted-keys/` by default).
  public init(trustedKeysDirectory: String, required: Bool) throws(RegistryError) {
    trusted = try ModelSigningKeys.loadTrusted(directory: trustedKeysDirectory)
    self.required = required
  }

  public static func sign(digest: Digest, size: Int, key: Curve25519.Signing.PrivateKey) throws(RegistryError) -> ModelSignature {
    let sig: Data
    do { sig = try key.signature(for: SignedStatement.bytes(digest: digest, size: size)) } catch {
      throw .signatureInvalid(model: digest.value, reason: "signing failed: \(error)")
    }
    return ModelSignature(digest: digest, size: size, keyID: ModelSigningKeys.keyID(key.publicKey), signature: sig.base64EncodedString())
  }

  /// Checks `manifest`'s signatures. One valid signature by a trusted key is enough; a signature
  /// that names a trusted key but does not verify is an error whatever else is there, because
  /// it means the bytes or the signature were altered.
  public func check(_ manifest: ModelManifest) throws(RegistryError) {
    let model = manifest.reference
    if manifest.signatures.isEmpty {
      if required { throw .signatureRequired(model: model) }
      return
    }
    var verified = false
    var untrusted: String?
    for s in manifest.signatures {
      guard s.format == ModelSignature.format else { throw .signatureInvalid(model: model, reason: "unknown format '\(s.format)'") }
      guard s.digest == manifest.digest, s.size == manifest.size else {
        throw .signatureInvalid(model: model, reason: "it signs \(s.digest) (\(s.size) bytes), not this file")
      }
      guard let key = trusted[s.keyID] else {
        untrusted = s.keyID
        continue
      }
      guard let raw = Data(base64Encoded: s.signature), raw.count == 64,
        key.isValidSignature(raw, for: SignedStatement.bytes(digest: s.digest, size: s.size))
      else { throw .signatureInvalid(model: model, reason: "the signature by key \(s.keyID) does not verify") }
      verified = true
    }
    if !verified, required {
      if let untrusted { throw .untrustedKey(model: model, keyID: untrusted) }
      throw .signatureRequired(model: model)
    }
  }
}

import Crypto
import Foundation

/// The Ed25519 key that signs audit checkpoints. The private key lives in the data dir
/// (`audit-signing-key`, 0600, sealed by the master key when one is configured); the public key is
/// exportable so an auditor can verify checkpoints with nothing else.
public struct AuditSigner: Sendable {
  public static let fileName = "audit-signing-key"
  let privateKey: Curve25519.Signing.PrivateKey
  public let verifier: AuditVerifierKey

  public init(privateKey: Curve25519.Signing.PrivateKey) {
    self.privateKey = privateKey
    verifier = AuditVerifierKey(publicKey: privateKey.publicKey)
  }

  public static func load(directory: String, cipher: EnvelopeCipher?) async throws -> AuditSigner {
    let path = (directory as NSString).appendingPathComponent(fileName)
    let raw = try await SecretFile.loadOrCreate(path: path, cipher: cipher, context: "secret.audit-signing") {
      Curve25519.Signing.PrivateKey().rawRepresentation
    }
    do { return AuditSigner(privateKey: try Curve25519.Signing.PrivateKey(rawRepresentation: raw)) } catch {
      throw ControlPlaneError.invalid("\(path) does not hold an Ed25519 private key")
    }
  }

  public var keyID: String { verifier.keyID }

  func sign(_ c: AuditCheckpoint) throws -> Data {
    Data(try privateKey.signature(for: AuditCanonical.checkpointBytes(c)))
  }
}

/// An Ed25519 public key that checks checkpoint signatures.
public struct AuditVerifierKey: Sendable {
  public let publicKey: Curve25519.Signing.PublicKey

  public init(publicKey: Curve25519.Signing.PublicKey) { self.publicKey = publicKey }

  /// Reads the PEM (SubjectPublicKeyInfo) form written by `pem`.
  public init(pem: String) throws(ControlPlaneError) {
    let body = pem.split(separator: "\n").filter { !$0.hasPrefix("-----") }.joined()
    guard let der = Data(base64Encoded: body), der.count == Self.spkiPrefix.count + 32, Array(der.prefix(Self.spkiPrefix.count)) == Self.spkiPrefix,
      let key = try? Curve25519.Signing.PublicKey(rawRepresentation: der.suffix(32))
    else { throw .invalid("not an Ed25519 public key in PEM form") }
    publicKey = key
  }

  /// `ak_` + the first 8 bytes of SHA-256 of the raw public key, in hex.
  public var keyID: String { "ak_" + Data(SHA256.hash(data: publicKey.rawRepresentation)).prefix(8).hexString }

  // SubjectPublicKeyInfo DER header for Ed25519 (RFC 8410): SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING }.
  static let spkiPrefix: [UInt8] = [0x30, 0x2A, 0x30, 0x05, 0x06, 0x03, 0x2B, 0x65, 0x70, 0x03, 0x21, 0x00]

  /// PEM, readable by `openssl pkey -pubin -in key.pem -text`.
  public var pem: String {
    let der = Data(Self.spkiPrefix) + publicKey.rawRepresentation
    let b64 = der.base64EncodedString()
    return "-----BEGIN PUBLIC KEY-----\n\(b64)\n-----END PUBLIC KEY-----\n"
  }

  public func isValid(_ c: AuditCheckpoint) -> Bool {
    c.signingKeyID == keyID && publicKey.isValidSignature(c.signature, for: AuditCanonical.checkpointBytes(c))
  }
}

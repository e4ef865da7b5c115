import Crypto
import Foundation

/// Why encryption at rest refused an operation. Tampering always surfaces as one of these, never as
/// garbage plaintext.
public enum EncryptionError: Error, Equatable, Sendable, CustomStringConvertible {
  /// The blob is too short, has the wrong magic or a bad header.
  case malformedCiphertext(String)
  /// The ciphertext names a data key the store does not have.
  case unknownDataKey(String)
  /// The GCM tag does not verify: ciphertext, tag, header or context changed, or a data key id was swapped.
  case authenticationFailed
  /// The wrapped data key does not open under the master key: the wrapped bytes changed or the wrong master key.
  case keyUnwrapFailed(dataKeyID: String)
  /// The store's data keys are wrapped by another master key than the one given.
  case masterKeyMismatch(expected: String, given: String)
  /// The master key could not be read or has the wrong size.
  case badMasterKey(String)
  /// A secret in the data dir is encrypted and no master key was given.
  case masterKeyRequired(String)

  public var description: String {
    switch self {
    case .malformedCiphertext(let m): "malformed ciphertext: \(m)"
    case .unknownDataKey(let id): "unknown data key \(id)"
    case .authenticationFailed: "ciphertext authentication failed (tampered or wrong key)"
    case .keyUnwrapFailed(let id): "data key \(id) does not unwrap under the master key (tampered or wrong master key)"
    case .masterKeyMismatch(let e, let g): "the data keys are wrapped by master key \(e), but master key \(g) was given"
    case .badMasterKey(let m): "bad master key: \(m)"
    case .masterKeyRequired(let what): "\(what) is encrypted: give --master-key-file or HEARTH_MASTER_KEY"
    }
  }
}

/// Wraps and unwraps data keys: the local master key today, a KMS later (a KMS provider calls out to
/// its service here; nothing else changes).
public protocol KeyProvider: Sendable {
  /// Identifies the master key; stored with each data key it wraps.
  var keyID: String { get }
  func wrap(_ dataKey: SymmetricKey, dataKeyID: String) async throws -> Data
  func unwrap(_ wrapped: Data, dataKeyID: String) async throws -> SymmetricKey
}

/// A 32-byte master key held in memory, read from a file or the environment.
public struct LocalMasterKey: KeyProvider {
  let key: SymmetricKey
  public let keyID: String

  public init(key: SymmetricKey) throws(EncryptionError) {
    guard key.bitCount == 256 else { throw .badMasterKey("need 32 bytes, got \(key.bitCount / 8)") }
    self.key = key
    var material = Data("hearth-master-key-id-v1".utf8)
    key.withUnsafeBytes { material.append(contentsOf: $0) }
    keyID = "mk_" + Data(SHA256.hash(data: material)).prefix(8).hexString
  }

  /// Parses base64 text (whitespace ignored) or exactly 32 raw bytes.
  public init(material: Data) throws(EncryptionError) {
    let text = String(decoding: material, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    if let d = Data(base64Encoded: text), d.count == 32 {
      try self.init(key: SymmetricKey(data: d))
    } else if material.count == 32 {
      try self.init(key: SymmetricKey(data: material))
    } else {
      throw .badMasterKey("expected 32 bytes, raw or base64 (make one with: head -c 32 /dev/urandom | base64)")
    }
  }

  /// Reads a key file; refuses one that group or others can read, as ssh does.
  public init(file path: String) throws(EncryptionError) {
    let attrs: [FileAttributeKey: Any]
    let data: Data
    do {
      attrs = try FileManager.default.attributesOfItem(atPath: path)
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw .badMasterKey("cannot read \(path)")
    }
    if let mode = (attrs[.posixPermissions] as? NSNumber)?.intValue, mode & 0o077 != 0 {
      throw .badMasterKey("\(path) is readable by others (mode \(String(mode, radix: 8))): chmod 600 it")
    }
    try self.init(material: data)
  }

  /// A fresh random master key (tests and first-time setup).
  public static func generate() -> LocalMasterKey {
    // A 256-bit key always satisfies init(key:).
    try! LocalMasterKey(key: SymmetricKey(size: .bits256))
  }

  /// The key as base64, for writing a new key file.
  public var base64: String { key.withUnsafeBytes { Data($0).base64EncodedString() } }

  static func wrapContext(_ dataKeyID: String) -> Data { Data("hearth-data-key-v1:\(dataKeyID)".utf8) }

  public func wrap(_ dataKey: SymmetricKey, dataKeyID: String) async throws -> Data {
    let raw = dataKey.withUnsafeBytes { Data($0) }
    // The data key id is authenticated data: a wrapped key moved to another id does not unwrap.
    guard let combined = try AES.GCM.seal(raw, using: key, authenticating: Self.wrapContext(dataKeyID)).combined else {
      throw EncryptionError.malformedCiphertext("AES-GCM gave no combined form")
    }
    return combined
  }

  public func unwrap(_ wrapped: Data, dataKeyID: String) async throws -> SymmetricKey {
    do {
      let box = try AES.GCM.SealedBox(combined: wrapped)
      let raw = try AES.GCM.open(box, using: key, authenticating: Self.wrapContext(dataKeyID))
      guard raw.count == 32 else { throw EncryptionError.keyUnwrapFailed(dataKeyID: dataKeyID) }
      return SymmetricKey(data: raw)
    } catch {
      throw EncryptionError.keyUnwrapFailed(dataKeyID: dataKeyID)
    }
  }
}

/// Where the master key comes from: `--master-key-file` wins over `HEARTH_MASTER_KEY` (base64).
public enum MasterKeySource: Sendable, Equatable {
  case file(String)
  case base64(String)

  /// The source given by a file option or the environment; nil when encryption at rest is off.
  public static func resolve(file: String?, environment: [String: String] = ProcessInfo.processInfo.environment) -> MasterKeySource? {
    if let file { return .file(file) }
    if let v = environment["HEARTH_MASTER_KEY"], !v.isEmpty { return .base64(v) }
    return nil
  }

  public func load() throws(EncryptionError) -> LocalMasterKey {
    switch self {
    case .file(let p): return try LocalMasterKey(file: p)
    case .base64(let s):
      guard let d = Data(base64Encoded: s.trimmingCharacters(in: .whitespacesAndNewlines)), d.count == 32 else {
        throw .badMasterKey("HEARTH_MASTER_KEY must be 32 bytes in base64")
      }
      return try LocalMasterKey(key: SymmetricKey(data: d))
    }
  }
}

/// A value behind a lock, for the few caches shared across tasks and threads.
final class Locked<Value>: @unchecked Sendable {
  private let lock = NSLock()
  private var value: Value

  init(_ value: Value) { self.value = value }

  func withLock<R, E: Error>(_ body: (inout Value) throws(E) -> R) throws(E) -> R {
    lock.lock()
    defer { lock.unlock() }
    return try body(&value)
  }
}

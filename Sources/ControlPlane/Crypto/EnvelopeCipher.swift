import Crypto
import Foundation

/// AES-256-GCM envelope encryption. Each blob is sealed with a random data key; data keys are stored
/// wrapped by the master key (`KeyProvider`) and kept unwrapped in memory once used.
///
/// Blob layout: `"HEv1"` | u8 id length | data key id (ASCII) | 12-byte nonce | ciphertext | 16-byte tag.
/// The header and a caller-chosen context string (`"audit.prompt"`, `"secret.server"`, ...) are the
/// GCM authenticated data, so a blob moved to another purpose, or given another key id, fails.
public final class EnvelopeCipher: Sendable {
  static let magic = Array("HEv1".utf8)
  let store: any DataKeyRepository
  let providerBox: Locked<any KeyProvider>
  let cache = Locked<[String: SymmetricKey]>([:])
  let activeID = Locked<String?>(nil)

  public init(provider: any KeyProvider, store: any DataKeyRepository) {
    self.store = store
    providerBox = Locked(provider)
  }

  public var provider: any KeyProvider { providerBox.withLock { $0 } }

  /// Throws `masterKeyMismatch` when stored data keys are wrapped by another master key (a wrong key
  /// file, or a rotation this process has not been told about). Call at startup.
  public func checkMasterKey() async throws {
    let p = provider
    for k in try await store.dataKeys() where k.masterKeyID != p.keyID {
      throw EncryptionError.masterKeyMismatch(expected: k.masterKeyID, given: p.keyID)
    }
  }

  public func seal(_ plaintext: Data, context: String) async throws -> Data {
    let (id, key) = try await activeKey()
    let header = Self.header(keyID: id)
    let box = try AES.GCM.seal(plaintext, using: key, authenticating: header + Data(context.utf8))
    var out = header
    out.reserveCapacity(header.count + 12 + plaintext.count + 16)
    out.append(contentsOf: box.nonce)
    out.append(box.ciphertext)
    out.append(box.tag)
    return out
  }

  public func open(_ blob: Data, context: String) async throws -> Data {
    let (id, headerLength) = try Self.parseHeader(blob)
    guard blob.count >= headerLength + 12 + 16 else { throw EncryptionError.malformedCiphertext("truncated") }
    let key = try await dataKey(id: id)
    let b = blob.startIndex
    do {
      let box = try AES.GCM.SealedBox(
        nonce: AES.GCM.Nonce(data: blob[(b + headerLength)..<(b + headerLength + 12)]),
        ciphertext: blob[(b + headerLength + 12)..<(blob.endIndex - 16)],
        tag: blob[(blob.endIndex - 16)...])
      return try AES.GCM.open(box, using: key, authenticating: blob[b..<(b + headerLength)] + Data(context.utf8))
    } catch {
      throw EncryptionError.authenticationFailed
    }
  }

  static func header(keyID: String) -> Data {
    var h = Data(magic)
    h.append(UInt8(keyID.utf8.count))
    h.append(contentsOf: keyID.utf8)
    return h
  }

  /// The data key id and the header's length.
  static func parseHeader(_ blob: Data) throws(EncryptionError) -> (String, Int) {
    let b = blob.startIndex
    guard blob.count >= 5, Array(blob[b..<(b + 4)]) == magic else { throw .malformedCiphertext("bad magic") }
    let n = Int(blob[b + 4])
    guard n > 0, blob.count >= 5 + n else { throw .malformedCiphertext("bad data key id") }
    let idBytes = blob[(b + 5)..<(b + 5 + n)]
    guard idBytes.allSatisfy({ Base62.isDigit[Int($0)] || $0 == UInt8(ascii: "_") }) else { throw .malformedCiphertext("bad data key id") }
    return (String(decoding: idBytes, as: UTF8.self), 5 + n)
  }

  /// The newest data key wrapped by the current master key; made and stored on first use.
  func activeKey() async throws -> (String, SymmetricKey) {
    if let id = activeID.withLock({ $0 }), let k = cache.withLock({ $0[id] }) { return (id, k) }
    let p = provider
    if let newest = try await store.dataKeys().last(where: { $0.masterKeyID == p.keyID }) {
      let k = try await dataKey(id: newest.id)
      activeID.withLock { $0 = newest.id }
      return (newest.id, k)
    }
    let id = "dk_" + Base62.random(count: 16)
    let key = SymmetricKey(size: .bits256)
    let record = DataKeyRecord(id: id, masterKeyID: p.keyID, version: 1, wrapped: try await p.wrap(key, dataKeyID: id), createdAt: Date())
    try await store.insertDataKey(record)
    cache.withLock { $0[id] = key }
    activeID.withLock { $0 = id }
    return (id, key)
  }

  /// An unwrapped data key, from the cache or the store.
  func dataKey(id: String) async throws -> SymmetricKey {
    if let k = cache.withLock({ $0[id] }) { return k }
    guard let record = try await store.dataKeys().first(where: { $0.id == id }) else { throw EncryptionError.unknownDataKey(id) }
    let p = provider
    guard record.masterKeyID == p.keyID else { throw EncryptionError.masterKeyMismatch(expected: record.masterKeyID, given: p.keyID) }
    let k = try await p.unwrap(record.wrapped, dataKeyID: id)
    cache.withLock { $0[id] = k }
    return k
  }

  /// Re-wraps every data key under `newProvider` in one transaction; no ciphertext is touched.
  ///
  /// Without downtime: a running server keeps the data keys it has unwrapped in memory and goes on
  /// reading and writing with them; it picks up the new master key at its next start (with the new
  /// key file). Returns the number of data keys re-wrapped.
  @discardableResult
  public func rotateMaster(to newProvider: any KeyProvider) async throws -> Int {
    for _ in 0..<3 {
      let old = try await store.dataKeys()
      var new = [DataKeyRecord]()
      for k in old {
        let key = try await dataKey(id: k.id)  // throws if any key does not unwrap: nothing is changed
        var n = k
        n.wrapped = try await newProvider.wrap(key, dataKeyID: k.id)
        n.masterKeyID = newProvider.keyID
        n.version = k.version + 1
        new.append(n)
      }
      if try await store.replaceDataKeys(new, ifUnchanged: old) {
        providerBox.withLock { $0 = newProvider }
        return new.count
      }
    }
    throw ControlPlaneError.conflict("data keys kept changing during master key rotation; try again")
  }
}

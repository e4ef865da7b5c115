import Crypto
import Foundation

/// Streaming file encryption for registry artifacts (model files can be many GB, so never whole in memory
/// on the way in).
///
/// Layout: `"HEF1"` | u8 id length | data key id | u32 chunk size | 7-byte random nonce prefix, then
/// chunks of `chunk size` plaintext bytes (the last may be shorter, even empty), each followed by its
/// 16-byte tag. Chunk i's nonce is prefix | u32 i | final flag (1 on the last chunk only), and the
/// header (plus the context) is authenticated with every chunk: reordered, dropped, truncated or
/// appended chunks fail as surely as flipped bytes.
extension EnvelopeCipher {
  static let fileMagic = Array("HEF1".utf8)
  public static let defaultChunkSize = 1 << 20

  /// Encrypts the file at `input` into a new file at `output` (mode 0600). Returns the plaintext size.
  @discardableResult
  public func encryptFile(at input: String, to output: String, context: String = "artifact", chunkSize: Int = defaultChunkSize) async throws -> Int {
    precondition(chunkSize > 0 && chunkSize <= 64 << 20, "chunk size out of range")
    guard let reader = FileHandle(forReadingAtPath: input) else { throw ControlPlaneError.notFound("file \(input)") }
    defer { try? reader.close() }
    let (id, key) = try await activeKey()
    var header = Data(Self.fileMagic)
    header.append(UInt8(id.utf8.count))
    header.append(contentsOf: id.utf8)
    withUnsafeBytes(of: UInt32(chunkSize).bigEndian) { header.append(contentsOf: $0) }
    var prefix = [UInt8](repeating: 0, count: 7)
    var rng = SystemRandomNumberGenerator()
    for i in 0..<7 { prefix[i] = UInt8.random(in: 0...255, using: &rng) }
    header.append(contentsOf: prefix)
    let aad = header + Data(context.utf8)

    let writer = try Self.createPrivateFile(output)
    var ok = false
    defer {
      try? writer.close()
      if !ok { try? FileManager.default.removeItem(atPath: output) }
    }
    try writer.write(contentsOf: header)
    var total = 0
    var index: UInt32 = 0
    var current = try reader.read(upToCount: chunkSize) ?? Data()
    while true {
      let next = current.count == chunkSize ? (try reader.read(upToCount: chunkSize) ?? Data()) : Data()
      let final = next.isEmpty
      let nonce = try AES.GCM.Nonce(data: Self.chunkNonce(prefix, index, final: final))
      let box = try AES.GCM.seal(current, using: key, nonce: nonce, authenticating: aad)
      try writer.write(contentsOf: box.ciphertext)
      try writer.write(contentsOf: box.tag)
      total += current.count
      if final { break }
      guard index < UInt32.max else { throw ControlPlaneError.invalid("file too large for chunk size \(chunkSize)") }
      index += 1
      current = next
    }
    ok = true
    return total
  }

  /// Decrypts a file made by `encryptFile` into memory (how an encrypted artifact is loaded).
  public func decryptFile(at path: String, context: String = "artifact") async throws -> Data {
    var out = Data()
    try await decryptChunks(path, context: context) { out.append($0) }
    return out
  }

  /// Decrypts a file made by `encryptFile` into a new file at `output` (mode 0600), chunk by chunk.
  public func decryptFile(at path: String, to output: String, context: String = "artifact") async throws {
    let writer = try Self.createPrivateFile(output)
    var ok = false
    defer {
      try? writer.close()
      if !ok { try? FileManager.default.removeItem(atPath: output) }
    }
    try await decryptChunks(path, context: context) { try writer.write(contentsOf: $0) }
    ok = true
  }

  /// The size the file at `path` decrypts to, from its header and length alone (no key needed), so a
  /// loader can allocate the plaintext once. The chunk tags are checked only by decryption.
  public static func plaintextSize(ofEncryptedFileAt path: String) throws -> Int {
    guard let reader = FileHandle(forReadingAtPath: path) else { throw ControlPlaneError.notFound("file \(path)") }
    defer { try? reader.close() }
    let (header, _, chunkSize, _) = try readFileHeader(reader)
    let body = Int(try reader.seekToEnd()) - header.count
    let chunks = max(1, (body + chunkSize + 15) / (chunkSize + 16))
    guard body >= 16 * chunks else { throw EncryptionError.malformedCiphertext("truncated body") }
    return body - 16 * chunks
  }

  /// Decrypts a file made by `encryptFile`, handing each authenticated plaintext chunk to `sink` in
  /// order (for loading a model straight into its final buffer). Nothing unauthenticated reaches it.
  public func decryptFile(at path: String, context: String = "artifact", chunks sink: (Data) throws -> Void) async throws {
    try await decryptChunks(path, context: context, sink)
  }

  static func readFileHeader(_ reader: FileHandle) throws -> (header: Data, keyID: String, chunkSize: Int, prefix: [UInt8]) {
    let head = try reader.read(upToCount: 5) ?? Data()
    guard head.count == 5, Array(head.prefix(4)) == Self.fileMagic, head.last! > 0 else {
      throw EncryptionError.malformedCiphertext("not an encrypted Hearth file")
    }
    let rest = try reader.read(upToCount: Int(head.last!) + 4 + 7) ?? Data()
    guard rest.count == Int(head.last!) + 11 else { throw EncryptionError.malformedCiphertext("truncated header") }
    let header = head + rest
    let n = Int(head.last!)
    let (id, _) = try Self.parseHeader(Data(Self.magic) + header[4..<(5 + n)])
    let chunkSize = Int(header[(5 + n)..<(9 + n)].reduce(UInt32(0)) { $0 << 8 | UInt32($1) })
    guard chunkSize > 0 && chunkSize <= 64 << 20 else { throw EncryptionError.malformedCiphertext("bad chunk size") }
    return (header, id, chunkSize, Array(header[(9 + n)...]))
  }

  func decryptChunks(_ path: String, context: String, _ sink: (Data) throws -> Void) async throws {
    guard let reader = FileHandle(forReadingAtPath: path) else { throw ControlPlaneError.notFound("file \(path)") }
    defer { try? reader.close() }
    let (header, id, chunkSize, prefix) = try Self.readFileHeader(reader)
    let key = try await dataKey(id: id)
    let aad = header + Data(context.utf8)
    var index: UInt32 = 0
    var current = try reader.read(upToCount: chunkSize + 16) ?? Data()
    while true {
      let next = current.count == chunkSize + 16 ? (try reader.read(upToCount: chunkSize + 16) ?? Data()) : Data()
      guard current.count >= 16 else { throw EncryptionError.authenticationFailed }
      let final = next.isEmpty
      do {
        let box = try AES.GCM.SealedBox(
          nonce: AES.GCM.Nonce(data: Self.chunkNonce(prefix, index, final: final)),
          ciphertext: current.prefix(current.count - 16), tag: current.suffix(16))
        try sink(try AES.GCM.open(box, using: key, authenticating: aad))
      } catch is CryptoKitError {
        throw EncryptionError.authenticationFailed
      }
      if final { return }
      guard index < UInt32.max else { throw EncryptionError.malformedCiphertext("too many chunks") }
      index += 1
      current = next
    }
  }

  static func chunkNonce(_ prefix: [UInt8], _ index: UInt32, final: Bool) -> [UInt8] {
    var n = prefix
    withUnsafeBytes(of: index.bigEndian) { n.append(contentsOf: $0) }
    n.append(final ? 1 : 0)
    return n
  }

  /// Creates `path` afresh with mode 0600 (never follows an existing file's permissions).
  static func createPrivateFile(_ path: String) throws -> FileHandle {
    let fd = Foundation.open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw ControlPlaneError.storage("cannot create \(path): \(String(cString: strerror(errno)))") }
    _ = fchmod(fd, 0o600)
    return FileHandle(fileDescriptor: fd, closeOnDealloc: true)
  }
}

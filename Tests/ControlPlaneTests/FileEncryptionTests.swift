import Foundation
import Testing

@testable import ControlPlane

@Suite struct FileEncryptionTests {
  /// Text that is easy to grep for, repeated over several chunks.
  static func plaintext(_ n: Int) -> Data {
    var d = Data()
    var i = 0
    while d.count < n {
      d.append(contentsOf: "tensor blk.\(i).attn_q.weight [4096 x 4096] f16 secret-weights\n".utf8)
      i += 1
    }
    return d.prefix(n)
  }

  @Test(arguments: [0, 1, 1023, 1024, 1025, 4096, 10_000])
  func roundTripsAtEverySizeAroundTheChunkBoundary(_ size: Int) async throws {
    let f = try await Fixture(encrypted: true)
    let c = try #require(f.cp.cipher)
    let src = f.dir.file("in"), enc = f.dir.file("in.enc"), out = f.dir.file("out")
    let plain = Self.plaintext(size)
    try plain.write(to: URL(fileURLWithPath: src))
    #expect(try await c.encryptFile(at: src, to: enc, chunkSize: 1024) == size)
    let chunks = max(1, (size + 1023) / 1024)  // an empty file is one empty final chunk
    let encSize = try Data(contentsOf: URL(fileURLWithPath: enc)).count
    #expect(encSize == 4 + 1 + 19 + 4 + 7 + size + 16 * chunks)
    #expect(try await c.decryptFile(at: enc) == plain)
    try await c.decryptFile(at: enc, to: out)
    #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == plain)
    #expect((try FileManager.default.attributesOfItem(atPath: enc)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    // A loader sizes its buffer from the header and length alone, then takes the chunks in order.
    #expect(try EnvelopeCipher.plaintextSize(ofEncryptedFileAt: enc) == size)
    var streamed = Data()
    var pieces = 0
    try await c.decryptFile(at: enc) { chunk in
      streamed.append(chunk)
      pieces += 1
    }
    #expect(streamed == plain)
    #expect(pieces == max(1, (size + 1023) / 1024))
  }

  @Test func plaintextSizeRefusesFilesThatAreNotEncryptedOrAreTruncated() async throws {
    let f = try await Fixture(encrypted: true)
    let c = try #require(f.cp.cipher)
    let plainFile = f.dir.file("plain"), enc = f.dir.file("plain.enc"), cut = f.dir.file("cut.enc")
    try Self.plaintext(3000).write(to: URL(fileURLWithPath: plainFile))
    #expect(throws: EncryptionError.self) { try EnvelopeCipher.plaintextSize(ofEncryptedFileAt: plainFile) }
    try await c.encryptFile(at: plainFile, to: enc, chunkSize: 1024)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: enc))
    try bytes.prefix(4 + 1 + 19 + 4 + 7 + 10).write(to: URL(fileURLWithPath: cut))  // header + 10 bytes: no room for a tag
    #expect(throws: EncryptionError.self) { try EnvelopeCipher.plaintextSize(ofEncryptedFileAt: cut) }
    // Streaming decryption of a truncated file fails before handing out the unauthenticated tail.
    try bytes.prefix(bytes.count - 5).write(to: URL(fileURLWithPath: cut))
    var delivered = 0
    await #expect(throws: EncryptionError.self) { try await c.decryptFile(at: cut) { delivered += $0.count } }
    #expect(delivered <= 2048)
  }

  @Test func theEncryptedFileRevealsNoPlaintext() async throws {
    let f = try await Fixture(encrypted: true)
    let src = f.dir.file("model.gguf"), enc = f.dir.file("model.gguf.enc")
    try Self.plaintext(50_000).write(to: URL(fileURLWithPath: src))
    try await f.cp.cipher!.encryptFile(at: src, to: enc, chunkSize: 4096)
    let bytes = try Data(contentsOf: URL(fileURLWithPath: enc))
    for needle in ["secret-weights", "attn_q", "tensor blk", "4096 x 4096"] { #expect(!contains(bytes, Data(needle.utf8))) }
  }

  @Test func tamperingWithChunksIsDetected() async throws {
    let f = try await Fixture(encrypted: true)
    let c = try #require(f.cp.cipher)
    let src = f.dir.file("in"), enc = f.dir.file("in.enc")
    try Self.plaintext(3000).write(to: URL(fileURLWithPath: src))
    try await c.encryptFile(at: src, to: enc, chunkSize: 1024)
    let good = try Data(contentsOf: URL(fileURLWithPath: enc))
    let header = 4 + 1 + 19 + 4 + 7
    let sealedChunk = 1024 + 16

    func attempt(_ bytes: Data, _ what: Comment) async {
      let p = f.dir.file("bad")
      try? bytes.write(to: URL(fileURLWithPath: p))
      await #expect(throws: EncryptionError.self, what) { try await c.decryptFile(at: p) }
    }
    var flip = good
    flip[header + 100] ^= 0x80
    await attempt(flip, "flipped ciphertext byte")
    var tag = good
    tag[header + sealedChunk - 1] ^= 0x01
    await attempt(tag, "flipped tag byte")
    var prefix = good
    prefix[header - 1] ^= 0x01
    await attempt(prefix, "flipped nonce prefix")
    await attempt(good.prefix(header + sealedChunk * 2), "last chunk dropped")
    await attempt(good.prefix(good.count - 1), "truncated")
    await attempt(good + Data(repeating: 0, count: 40), "bytes appended")
    var swapped = good
    let a = good[header..<(header + sealedChunk)], b = good[(header + sealedChunk)..<(header + 2 * sealedChunk)]
    swapped.replaceSubrange(header..<(header + 2 * sealedChunk), with: b + a)
    await attempt(swapped, "chunks swapped")
    var size = good
    size[header - 8] ^= 0x01
    await attempt(size, "chunk size changed")
    await attempt(Data("plain".utf8), "not encrypted")
    // Another context (another purpose) does not open it.
    await #expect(throws: EncryptionError.authenticationFailed) { try await c.decryptFile(at: enc, context: "other") }
    #expect(try await c.decryptFile(at: enc) == Self.plaintext(3000))
  }
}

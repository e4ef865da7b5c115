import Crypto
import Foundation
import Testing

@testable import Registry

@Suite struct SignatureTests {
  /// A registry dir with a tiny model file and a publisher key trusted through trusted-keys/.
  struct Setup {
    let dir = TempDir()
    let key = ModelSigningKeys.generate()
    var model: String { dir.file("tiny.gguf") }
    var data: String { dir.file("data") }
    var trusted: String { ModelRegistry.defaultTrustedKeysDirectory(dataDirectory: data) }

    init() throws {
      try writeTinyModel(to: model)
      try FileManager.default.createDirectory(atPath: trusted, withIntermediateDirectories: true)
      try ModelSigningKeys.writeKeyPair(key, privatePath: dir.file("publisher.key"))
      try FileManager.default.copyItem(atPath: dir.file("publisher.key.pub"), toPath: (trusted as NSString).appendingPathComponent("publisher.pub"))
    }

    func registry(required: Bool) throws -> ModelRegistry {
      ModelRegistry(dataDirectory: data, policy: try SignaturePolicy(trustedKeysDirectory: trusted, required: required))
    }
  }

  @Test func keysRoundTripThroughPEMFiles() throws {
    let s = try Setup()
    defer { s.dir.cleanup() }
    let loaded = try ModelSigningKeys.loadPrivate(path: s.dir.file("publisher.key"))
    #expect(loaded.rawRepresentation == s.key.rawRepresentation)
    #expect(try ModelSigningKeys.loadPublic(path: s.dir.file("publisher.key.pub")).rawRepresentation == s.key.publicKey.rawRepresentation)
    let mode = try FileManager.default.attributesOfItem(atPath: s.dir.file("publisher.key"))[.posixPermissions] as? Int
    #expect(mode == 0o600)
    #expect(throws: RegistryError.self) { try ModelSigningKeys.writeKeyPair(s.key, privatePath: s.dir.file("publisher.key")) }
    // A public key is not a private key, and garbage is neither.
    #expect(throws: RegistryError.self) { try ModelSigningKeys.loadPrivate(path: s.dir.file("publisher.key.pub")) }
    try Data("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n".utf8).write(to: URL(fileURLWithPath: s.dir.file("bad.pub")))
    #expect(throws: RegistryError.badKey(path: s.dir.file("bad.pub"), reason: "not an Ed25519 key (RFC 8410)")) {
      try ModelSigningKeys.loadPublic(path: s.dir.file("bad.pub"))
    }
  }

  @Test func aPublisherSignatureIsCheckedAtImportAndOpen() throws {
    let s = try Setup()
    defer { s.dir.cleanup() }
    let sig = try ModelRegistry.sign(file: s.model, key: s.key)
    let sigFile = s.dir.file("tiny.gguf.sig")
    try ModelRegistry.signatureFile(sig).write(to: URL(fileURLWithPath: sigFile))
    let r = try s.registry(required: true)
    let m = try r.importModel(path: s.model, name: "tiny", signature: try ModelRegistry.readSignature(path: sigFile))
    #expect(m.signatures == [sig])
    #expect(try r.open(name: "tiny").manifest == m)
  }

  @Test func missingBadAndUntrustedSignaturesAreRefused() throws {
    let s = try Setup()
    defer { s.dir.cleanup() }
    let r = try s.registry(required: true)
    #expect(throws: RegistryError.signatureRequired(model: "tiny:1")) { try r.importModel(path: s.model, name: "tiny") }

    var forged = try ModelRegistry.sign(file: s.model, key: s.key)
    var raw = Data(base64Encoded: forged.signature)!
    raw[0] ^= 1
    forged.signature = raw.base64EncodedString()
    #expect(throws: RegistryError.signatureInvalid(model: "tiny:1", reason: "the signature by key \(forged.keyID) does not verify")) {
      try r.importModel(path: s.model, name: "tiny", signature: forged)
    }

    let stranger = try ModelRegistry.sign(file: s.model, key: ModelSigningKeys.generate())
    #expect(throws: RegistryError.untrustedKey(model: "tiny:1", keyID: stranger.keyID)) {
      try r.importModel(path: s.model, name: "tiny", signature: stranger)
    }

    try writeTinyModel(to: s.dir.file("other.gguf"), seed: 9)
    let forOther = try ModelRegistry.sign(file: s.dir.file("other.gguf"), key: s.key)
    #expect(throws: RegistryError.self) { try r.importModel(path: s.model, name: "tiny", signature: forOther) }
    #expect(s.dir.files(under: "data/blobs").isEmpty, "refused imports store nothing")
  }

  @Test func signingAStoredVersionAndRequiringItAtOpen() throws {
    let s = try Setup()
    defer { s.dir.cleanup() }
    let open = try s.registry(required: false)
    _ = try open.importModel(path: s.model, name: "tiny")
    let strict = try s.registry(required: true)
    #expect(throws: RegistryError.signatureRequired(model: "tiny:1")) { try strict.open(name: "tiny") }

    let sig = try open.sign(name: "tiny", key: s.key)
    #expect(try strict.open(name: "tiny").manifest.signatures == [sig])
    // Signing again with the same key replaces, not duplicates.
    _ = try open.sign(name: "tiny", key: s.key)
    #expect(try open.manifest(name: "tiny").signatures.count == 1)

    // Editing the manifest's signature on disk is caught at open.
    let path = s.dir.file("data/registry/tiny/1.json")
    var text = try String(contentsOfFile: path, encoding: .utf8)
    let b64 = sig.signature
    let flipped = (b64.first == "A" ? "B" : "A") + b64.dropFirst()
    text = text.replacingOccurrences(of: b64, with: flipped)
    try text.write(toFile: path, atomically: true, encoding: .utf8)
    #expect(throws: RegistryError.signatureInvalid(model: "tiny:1", reason: "the signature by key \(sig.keyID) does not verify")) {
      try strict.open(name: "tiny")
    }
  }

  @Test func withoutRequirementUnknownSignersAreIgnored() throws {
    let s = try Setup()
    defer { s.dir.cleanup() }
    let r = try s.registry(required: false)
    let stranger = try ModelRegistry.sign(file: s.model, key: ModelSigningKeys.generate())
    let m = try r.importModel(path: s.model, name: "tiny", signature: stranger)
    #expect(try r.open(name: "tiny").manifest == m)
  }
}

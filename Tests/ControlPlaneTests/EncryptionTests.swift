import Crypto
import Foundation
import Testing

@testable import ControlPlane

@Suite struct EncryptionTests {
  @Test func sealOpenAndContextBinding() async throws {
    let f = try await Fixture(encrypted: true)
    let c = try #require(f.cp.cipher)
    let msg = Data("attack at dawn".utf8)
    let blob = try await c.seal(msg, context: "audit.prompt")
    #expect(try await c.open(blob, context: "audit.prompt") == msg)
    #expect(!contains(blob, msg))
    #expect(try await c.seal(msg, context: "audit.prompt") != blob)  // fresh nonce each time
    await #expect(throws: EncryptionError.authenticationFailed) { try await c.open(blob, context: "secret.server") }
    #expect(try await c.seal(Data(), context: "x").count == 5 + 19 + 12 + 16)
  }

  @Test func tamperingIsDetectedWithATypedError() async throws {
    let f = try await Fixture(encrypted: true)
    let c = try #require(f.cp.cipher)
    let blob = try await c.seal(Data(repeating: 7, count: 100), context: "t")
    let header = 5 + 19
    for (what, i) in [("nonce", header + 3), ("ciphertext", header + 12 + 50), ("tag", blob.count - 1)] {
      var b = blob
      b[i] ^= 0x01
      await #expect(throws: EncryptionError.authenticationFailed, "flipped \(what)") { try await c.open(b, context: "t") }
    }
    var truncated = blob
    truncated.removeLast(20)
    await #expect(throws: EncryptionError.authenticationFailed) { try await c.open(truncated, context: "t") }
    await #expect(throws: EncryptionError.self) { try await c.open(Data("HEv1".utf8), context: "t") }
    await #expect(throws: EncryptionError.malformedCiphertext("bad magic")) { try await c.open(Data("nope, plain text".utf8), context: "t") }
    // Point the blob at another (real) data key: it does not open.
    let other = "dk_" + Base62.random(count: 16)
    let k = SymmetricKey(size: .bits256)
    try await f.store.insertDataKey(DataKeyRecord(id: other, masterKeyID: f.master!.keyID, version: 1, wrapped: try await f.master!.wrap(k, dataKeyID: other), createdAt: Date()))
    var swapped = blob
    swapped.replaceSubrange(5..<24, with: Data(other.utf8))
    await #expect(throws: EncryptionError.authenticationFailed) { try await c.open(swapped, context: "t") }
    var unknown = blob
    unknown.replaceSubrange(5..<24, with: Data(("dk_" + Base62.random(count: 16)).utf8))
    await #expect(throws: EncryptionError.self) { try await c.open(unknown, context: "t") }
  }

  @Test func tamperedOrSwappedWrappedKeysAreDetected() async throws {
    let f = try await Fixture(encrypted: true)
    let blob = try await f.cp.cipher!.seal(Data("x".utf8), context: "t")
    let keys = try await f.store.dataKeys()
    let id = try #require(keys.first?.id)
    // A fresh process (empty cache) with the wrapped key altered in the database.
    try await f.store.rawExecute("UPDATE data_keys SET wrapped = X'\(Data(count: 60).hexString)' WHERE id = '\(id)'")
    let fresh = EnvelopeCipher(provider: f.master!, store: f.store)
    await #expect(throws: EncryptionError.keyUnwrapFailed(dataKeyID: id)) { try await fresh.open(blob, context: "t") }
    // A validly wrapped key moved to another id does not unwrap either (the id is authenticated).
    let realWrapped = try await f.master!.wrap(SymmetricKey(size: .bits256), dataKeyID: "dk_AAAAAAAAAAAAAAAA")
    try await f.store.rawExecute("UPDATE data_keys SET wrapped = X'\(realWrapped.hexString)' WHERE id = '\(id)'")
    await #expect(throws: EncryptionError.keyUnwrapFailed(dataKeyID: id)) { try await EnvelopeCipher(provider: f.master!, store: f.store).open(blob, context: "t") }
    // The wrong master key is named as such.
    let wrong = EnvelopeCipher(provider: LocalMasterKey.generate(), store: f.store)
    await #expect(throws: EncryptionError.self) { try await wrong.checkMasterKey() }
    await #expect(throws: EncryptionError.self) { try await wrong.open(blob, context: "t") }
  }

  @Test func secretsInTheDataDirAreSealed() async throws {
    let f = try await Fixture(encrypted: true)
    for name in [ServerSecret.fileName, AuditSigner.fileName] {
      let p = f.dir.file(name)
      let text = try String(contentsOfFile: p, encoding: .utf8)
      #expect(text.hasPrefix(SecretFile.sealedTag))
      #expect((try FileManager.default.attributesOfItem(atPath: p)[.posixPermissions] as? NSNumber)?.intValue == 0o600)
    }
    // The signing key's raw bytes appear nowhere on disk.
    let signer = try await AuditSigner.load(directory: f.dir.path, cipher: f.cp.cipher)
    try await f.store.checkpointWAL()
    #expect(!contains(allBytes(in: f.dir.path), signer.privateKey.rawRepresentation))
    // Without the master key the data dir does not open.
    var config = ControlPlaneConfig(dataDir: f.dir.path)
    config.environment = [:]
    await #expect(throws: EncryptionError.self) { try await ControlPlaneServices.open(config) }
  }

  @Test func plainSecretsAreSealedWhenAMasterKeyArrives() async throws {
    let dir = TempDir()
    let plain = try await Fixture(dir: dir)
    let before = try await ServerSecret.load(directory: dir.path, cipher: nil, environment: [:])
    #expect(try String(contentsOfFile: dir.file(ServerSecret.fileName), encoding: .utf8).hasPrefix(SecretFile.plainTag))
    let k = try await plain.key(Tenant.systemID)
    let master = LocalMasterKey.generate()
    let cipher = EnvelopeCipher(provider: master, store: plain.store)
    let after = try await ServerSecret.load(directory: dir.path, cipher: cipher, environment: [:])
    #expect(try String(contentsOfFile: dir.file(ServerSecret.fileName), encoding: .utf8).hasPrefix(SecretFile.sealedTag))
    #expect(before.mac(keyID: "a", secret: "b") == after.mac(keyID: "a", secret: "b"))
    _ = k
    await #expect(throws: EncryptionError.masterKeyRequired(dir.file(ServerSecret.fileName))) {
      try await ServerSecret.load(directory: dir.path, cipher: nil, environment: [:])
    }
  }

  @Test func masterKeySources() throws {
    let dir = TempDir()
    let k = LocalMasterKey.generate()
    let p = dir.file("master.key")
    _ = FileManager.default.createFile(atPath: p, contents: Data((k.base64 + "\n").utf8), attributes: [.posixPermissions: 0o600])
    #expect(try MasterKeySource.file(p).load().keyID == k.keyID)
    #expect(try MasterKeySource.base64(k.base64).load().keyID == k.keyID)
    #expect(MasterKeySource.resolve(file: nil, environment: ["HEARTH_MASTER_KEY": k.base64]) == .base64(k.base64))
    #expect(MasterKeySource.resolve(file: p, environment: ["HEARTH_MASTER_KEY": "x"]) == .file(p))
    #expect(MasterKeySource.resolve(file: nil, environment: [:]) == nil)
    try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: p)
    #expect(throws: EncryptionError.self) { try MasterKeySource.file(p).load() }
    #expect(throws: EncryptionError.self) { try MasterKeySource.base64("c2hvcnQ=").load() }
    #expect(throws: EncryptionError.self) { try MasterKeySource.file(dir.file("missing")).load() }
  }

  @Test func rotatingTheMasterKeyRewrapsWithoutTouchingCiphertexts() async throws {
    let f = try await Fixture(encrypted: true)
    let t = try await f.tenant("keeps", policy: TenantPolicy(storePrompts: true))
    let p = try await f.cp.keys.verify(try await f.key(t.id).plaintext)
    let call = InferenceCall(time: f.clock.now(), route: "/r", model: "m", status: 200, promptTokens: 1, completionTokens: 1, latencyMicros: 1, prompt: Data("kept prompt".utf8))
    let rec = try #require(try await f.cp.audit.recordInference(call, by: p))
    let file = f.dir.file("artifact.bin")
    try Data(repeating: 42, count: 3000).write(to: URL(fileURLWithPath: file))
    try await f.cp.cipher!.encryptFile(at: file, to: file + ".enc", chunkSize: 1024)
    let encBefore = try Data(contentsOf: URL(fileURLWithPath: file + ".enc"))
    let keysBefore = try await f.store.dataKeys()

    let newMaster = LocalMasterKey.generate()
    #expect(try await f.cp.cipher!.rotateMaster(to: newMaster) == keysBefore.count)
    let keysAfter = try await f.store.dataKeys()
    #expect(keysAfter.map(\.id) == keysBefore.map(\.id))
    #expect(keysAfter.allSatisfy { $0.masterKeyID == newMaster.keyID && $0.version == 2 })
    #expect(zip(keysAfter, keysBefore).allSatisfy { $0.wrapped != $1.wrapped })
    // The running cipher goes on working (it kept its unwrapped keys)...
    #expect(try await f.cp.audit.capturedPrompt(rec, by: Fixture.admin) == Data("kept prompt".utf8))
    // ...ciphertexts are untouched, and a fresh process with the new master key reads them all.
    #expect(try Data(contentsOf: URL(fileURLWithPath: file + ".enc")) == encBefore)
    var config = ControlPlaneConfig(dataDir: f.dir.path, masterKey: .base64(newMaster.base64))
    config.environment = [:]
    let reopened = try await ControlPlaneServices.open(config)
    #expect(try await reopened.audit.capturedPrompt(rec, by: Fixture.admin) == Data("kept prompt".utf8))
    #expect(try await reopened.cipher!.decryptFile(at: file + ".enc") == Data(repeating: 42, count: 3000))
    #expect(try await reopened.audit.verify().ok)
    // The old master key no longer opens the data dir, with an error that says so.
    var old = ControlPlaneConfig(dataDir: f.dir.path, masterKey: .base64(f.master!.base64))
    old.environment = [:]
    await #expect(throws: EncryptionError.masterKeyMismatch(expected: newMaster.keyID, given: f.master!.keyID)) {
      try await ControlPlaneServices.open(old)
    }
  }
}

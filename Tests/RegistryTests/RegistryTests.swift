import Foundation
import GGUF
import Testing

@testable import Registry

@Suite struct RegistryTests {
  @Test func importListShowVerifyRemove() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    let model = dir.file("tiny.gguf")
    try writeTinyModel(to: model)
    let r = ModelRegistry(dataDirectory: dir.file("data"))

    let first = try r.importModel(path: model, name: "tiny", progress: nil)
    #expect(first.version.value == "1")
    #expect(first.architecture == "llama")
    #expect(first.size == FileIO.regularFileSize(model))
    // embedding 8x32, three norms of 32, q, k+v and o (32x32 each), gate, up and down (32x64 each).
    #expect(first.parameters == 8 * 32 + 3 * 32 + 3 * 32 * 32 + 3 * 32 * 64)
    #expect(first.quantTypes == [QuantTypeUsage(type: "F32", tensors: 11, bytes: first.parameters * 4)])
    #expect(first.contextLength == 128)
    #expect(first.license == "apache-2.0")
    #expect(first.chatTemplate.present && first.chatTemplate.sha256?.count == 64)
    #expect(first.source == model)
    // The digest is the SHA-256 of the file, as sha256sum computes it.
    let (expected, _) = try FileIO.hashFile(model, progress: nil)
    #expect(first.digest == expected)
    #expect(dir.files(under: "data/blobs/sha256") == [first.digest.hex])

    let second = try r.importModel(path: model, name: "tiny")
    #expect(second.version.value == "2")
    #expect(second.digest == first.digest)
    #expect(dir.files(under: "data/blobs/sha256").count == 1, "same bytes share one blob")
    #expect(try r.list().map(\.reference) == ["tiny:1", "tiny:2"])
    #expect(try r.manifest(name: "tiny").version.value == "2", "no version means the latest")
    #expect(try r.manifest(name: "tiny", version: "1") == first)
    #expect(try r.verify(name: "tiny", version: "1") == first)
    let opened = try r.open(name: "tiny")
    #expect(opened.path == r.blobPath(first.digest))

    #expect(try r.remove(name: "tiny", version: "1").blobRemoved == false)
    #expect(try r.remove(name: "tiny", version: "2").blobRemoved == true)
    #expect(try r.list().isEmpty)
    #expect(dir.files(under: "data/blobs").isEmpty)
    #expect(throws: RegistryError.notFound(name: "tiny", version: "2")) { try r.remove(name: "tiny", version: "2") }
    #expect(throws: RegistryError.notFound(name: "tiny", version: nil)) { try r.open(name: "tiny") }
  }

  @Test func versionsImportedInTheSameSecondListInImportOrder() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    // A label that is not a number sorted before "1" when manifests kept whole seconds only.
    for version in ["1", "v2", "a"] {
      _ = try r.importModel(path: dir.file("tiny.gguf"), name: "tiny", version: version)
      Thread.sleep(forTimeInterval: 0.002)
    }
    #expect(try r.list().map(\.reference) == ["tiny:1", "tiny:v2", "tiny:a"])
    #expect(try r.manifest(name: "tiny").version.value == "a", "no version means the latest import")
    // Manifests keep milliseconds and read back equal; older whole-second ones still read.
    let text = try String(contentsOfFile: dir.file("data/registry/tiny/v2.json"), encoding: .utf8)
    #expect(text.range(of: #""created_at" : "[0-9T:-]+\.[0-9]{3}Z""#, options: .regularExpression) != nil)
    let old = text.replacingOccurrences(of: #"\.[0-9]{3}Z"#, with: "Z", options: .regularExpression)
    let decoded = try ManifestCoding.decode(ModelManifest.self, Data(old.utf8), path: "old.json")
    #expect(decoded.version.value == "v2")
    #expect(decoded.createdAt.timeIntervalSince1970 == decoded.createdAt.timeIntervalSince1970.rounded(.down))
  }

  @Test func manifestIsSnakeCaseJSONOnDisk() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    let m = try r.importModel(path: dir.file("tiny.gguf"), name: "tiny", version: "v1.0")
    let path = dir.file("data/registry/tiny/v1.0.json")
    let json = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path))) as! [String: Any]
    for key in ["name", "version", "digest", "size", "architecture", "parameters", "quant_types", "context_length", "chat_template", "license",
      "created_at", "source", "stored_by", "schema"]
    {
      #expect(json[key] != nil, "manifest lacks \(key)")
    }
    #expect(json["digest"] as? String == m.digest.value)
    #expect(["reflink", "copy"].contains(m.storedBy))
  }

  @Test func explicitVersionsAreNotOverwritten() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("a.gguf"), seed: 1)
    try writeTinyModel(to: dir.file("b.gguf"), seed: 2)
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    let a = try r.importModel(path: dir.file("a.gguf"), name: "tiny", version: "v1")
    #expect(throws: RegistryError.alreadyExists(name: "tiny", version: "v1")) {
      try r.importModel(path: dir.file("b.gguf"), name: "tiny", version: "v1")
    }
    #expect(try r.manifest(name: "tiny", version: "v1") == a)
    #expect(dir.files(under: "data/blobs") == ["sha256/" + a.digest.hex])
    // Auto-numbering ignores labels that are not integers.
    #expect(try r.importModel(path: dir.file("b.gguf"), name: "tiny").version.value == "1")
  }

  @Test func aPinnedDigestMustMatchTheFile() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    let (actual, _) = try FileIO.hashFile(dir.file("tiny.gguf"), progress: nil)
    let other = "sha256:" + String(repeating: "0", count: 64)
    #expect(throws: RegistryError.unexpectedDigest(path: dir.file("tiny.gguf"), expected: other, actual: actual.value)) {
      try r.importModel(path: dir.file("tiny.gguf"), name: "tiny", expectedDigest: other)
    }
    #expect(dir.files(under: "data/blobs").isEmpty, "a refused import stores nothing")
    #expect(try r.list().isEmpty)
    // A malformed pin is refused before the file is read.
    #expect(throws: RegistryError.invalidDigest("sha256:../../x")) {
      try r.importModel(path: dir.file("absent.gguf"), name: "tiny", expectedDigest: "sha256:../../x")
    }
    #expect(try r.importModel(path: dir.file("tiny.gguf"), name: "tiny", expectedDigest: actual.value).digest == actual)
  }

  @Test func corruptedBlobIsRefusedWithAClearError() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    let m = try r.importModel(path: dir.file("tiny.gguf"), name: "tiny")
    let blob = r.blobPath(m.digest)
    try flipByte(blob, at: m.size - 100)

    var err: RegistryError?
    do { _ = try r.open(name: "tiny") } catch { err = error }
    guard case .digestMismatch(let model, let want, let got)? = err else {
      Issue.record("open should refuse a corrupted blob, got \(String(describing: err))")
      return
    }
    #expect(model == "tiny:1" && want == m.digest.value && got != want)
    #expect(err!.description.contains("tiny:1 is corrupt") && err!.description.contains("refusing"))
    #expect(throws: RegistryError.self) { try r.verify(name: "tiny") }

    // A truncated or deleted blob is refused too, before any hashing.
    try FileHandle(forUpdating: URL(fileURLWithPath: blob)).truncate(atOffset: 100)
    #expect(throws: RegistryError.sizeMismatch(model: "tiny:1", expected: m.size, actual: 100)) { try r.open(name: "tiny") }
    try FileManager.default.removeItem(atPath: blob)
    #expect(throws: RegistryError.blobMissing(model: "tiny:1", path: blob)) { try r.open(name: "tiny") }

    // Importing the same bytes again repairs the blob for every version that uses it.
    _ = try r.importModel(path: dir.file("tiny.gguf"), name: "tiny")
    #expect(try r.open(name: "tiny", version: "1").manifest == m)
  }

  @Test func failedImportsLeaveNothing() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    let junk = dir.file("junk.gguf")
    try Data((0..<4096).map { UInt8($0 % 251) }).write(to: URL(fileURLWithPath: junk))
    try writeTinyModel(to: dir.file("missing-tensor.gguf"), drop: "blk.0.ffn_down.weight")
    try writeTinyModel(to: dir.file("bad-arch.gguf"), metadata: [("general.architecture", .string("rwkv9"))])
    try writeTinyModel(to: dir.file("bad-tokenizer.gguf"), metadata: [("tokenizer.ggml.model", .string("nope"))])
    try writeTinyModel(to: dir.file("bad-template.gguf"), metadata: [("tokenizer.chat_template", .string("{% for %}"))])

    for (file, fragment) in [
      ("junk.gguf", "not a GGUF file"), ("missing-tensor.gguf", "missing tensor 'blk.0.ffn_down.weight'"),
      ("bad-arch.gguf", "unsupported architecture 'rwkv9'"), ("bad-tokenizer.gguf", "tokenizer:"), ("bad-template.gguf", "chat template:"),
    ] {
      var err: RegistryError?
      do { _ = try r.importModel(path: dir.file(file), name: "m") } catch { err = error }
      guard case .invalidModel(_, let reason)? = err else {
        Issue.record("\(file): expected invalidModel, got \(String(describing: err))")
        continue
      }
      #expect(reason.contains(fragment), "\(file): \(reason)")
    }
    #expect(throws: RegistryError.self) { try r.importModel(path: dir.file("absent.gguf"), name: "m") }
    #expect(dir.files(under: "data/blobs").isEmpty, "no blob or temp file may remain")
    #expect(try r.list().isEmpty)
  }

  @Test func aNameIsCheckedBeforeAnyFileIsTouched() throws {
    let dir = TempDir()
    defer { dir.cleanup() }
    try writeTinyModel(to: dir.file("tiny.gguf"))
    let r = ModelRegistry(dataDirectory: dir.file("data"))
    #expect(throws: RegistryError.invalidName("../x", reason: "it contains a path separator")) {
      try r.importModel(path: dir.file("tiny.gguf"), name: "../x")
    }
    #expect(throws: RegistryError.self) { try r.importModel(path: dir.file("tiny.gguf"), name: "ok", version: "1/../../x") }
    #expect(throws: RegistryError.self) { try r.open(name: "..") }
    #expect(throws: RegistryError.self) { try r.remove(name: "a", version: "../../blobs") }
    #expect(!FileManager.default.fileExists(atPath: dir.file("data")), "nothing was created for a refused name")
  }
}

import Foundation
import Testing

@testable import Registry

/// Names, versions and digests become path components: everything that could escape the
/// registry's directories, or confuse a terminal, is refused.
@Suite struct NameTests {
  @Test(arguments: [
    ("../x", "it contains a path separator"), ("a/b", "it contains a path separator"), ("a\\b", "it contains a path separator"),
    ("..", "it contains '..'"), ("a..b", "it contains '..'"), ("", "it is empty"),
    ("a\u{0}b", "it contains a control character"), ("line\nbreak", "it contains a control character"),
    ("tab\there", "it contains a control character"), ("del\u{7F}", "it contains a control character"),
    (String(repeating: "a", count: 129), "it is longer than 128 characters"),
    (".hidden", "it must start with a letter or digit"), ("-flag", "it must start with a letter or digit"),
    ("a b", "only letters, digits, '.', '_' and '-' are allowed (found ' ')"),
    ("a:b", "only letters, digits, '.', '_' and '-' are allowed (found ':')"),
  ])
  func badNamesAreRefused(_ name: String, _ reason: String) {
    #expect(throws: RegistryError.invalidName(name, reason: reason)) { try ModelName(name) }
  }

  @Test func nonASCIIIsRefused() {
    // "é" is two UTF-8 bytes, neither of them in the charset.
    #expect(throws: RegistryError.self) { try ModelName("modèle") }
    #expect(throws: RegistryError.self) { try ModelName("ｍodel") }
  }

  @Test func goodNamesPass() throws {
    for n in ["smollm2", "SmolLM2-135M-Instruct.Q4_1", "a", "0", "qwen2.5-coder_0.5b", String(repeating: "x", count: 128)] {
      #expect(try ModelName(n).value == n)
    }
  }

  @Test func versionsAreRestrictedLikeNames() throws {
    #expect(try ModelVersion("12").number == 12)
    #expect(try ModelVersion("v1.2").number == nil)
    #expect(throws: RegistryError.invalidVersion("1/2", reason: "it contains a path separator")) { try ModelVersion("1/2") }
    #expect(throws: RegistryError.invalidVersion(String(repeating: "9", count: 65), reason: "it is longer than 64 characters")) {
      try ModelVersion(String(repeating: "9", count: 65))
    }
  }

  @Test func digestsMustBeSHA256InLowercaseHex() throws {
    let hex = String(repeating: "0123456789abcdef", count: 4)
    #expect(try Digest("sha256:" + hex).hex == hex)
    for bad in [
      "sha256:" + hex.dropLast(), "sha256:" + hex + "0", "sha256:" + hex.uppercased(), "sha512:" + hex, hex,
      "sha256:" + hex.dropLast(2) + "/x", "sha256:../../../../etc/passwd", "", "sha256:",
    ] {
      #expect(throws: RegistryError.invalidDigest(bad)) { try Digest(bad) }
    }
  }

  @Test func referencesSplitAtTheColon() throws {
    let r = try ModelReference(parsing: "smollm2:3")
    #expect(r.name.value == "smollm2" && r.version?.value == "3")
    #expect(try ModelReference(parsing: "smollm2").version == nil)
    #expect(throws: RegistryError.self) { try ModelReference(parsing: "a:b:c") }
    #expect(throws: RegistryError.self) { try ModelReference(parsing: "../a:1") }
    #expect(throws: RegistryError.self) { try ModelReference(parsing: "a:") }
  }

  @Test func errorLinesStayOneLine() {
    let e = RegistryError.invalidName("a\nb", reason: "it contains a control character")
    #expect(!e.description.contains("\n"))
  }

  @Test func manifestsRefuseBadDigestsWhenDecoded() throws {
    let json = """
      {"format":"hearth-model-signature-v1","digest":"sha256:../../x","size":1,"key_id":"mk_00","signature":"AA=="}
      """
    #expect(throws: (any Error).self) { try ManifestCoding.decoder().decode(ModelSignature.self, from: Data(json.utf8)) }
  }
}

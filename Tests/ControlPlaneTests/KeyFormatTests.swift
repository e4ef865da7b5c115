import Foundation
import Testing

@testable import ControlPlane

@Suite struct KeyFormatTests {
  @Test func generatedTokensParseBack() throws {
    for _ in 0..<200 {
      let t = APIKeyToken.generate()
      #expect(t.token.hasPrefix("hk_"))
      #expect(t.token.utf8.count == 48)
      let p = try APIKeyToken.parse(t.token)
      #expect(p == t)
    }
  }

  @Test func rotationKeepsTheKeyID() throws {
    let t = APIKeyToken.generate(keyID: "abcdefABCDEF")
    #expect(t.keyID == "abcdefABCDEF")
    #expect(try APIKeyToken.parse(t.token).keyID == "abcdefABCDEF")
  }

  @Test func crc32MatchesTheStandardCheckValue() {
    #expect(CRC32.checksum(Array("123456789".utf8)) == 0xCBF4_3926)
  }

  @Test func descriptionNeverShowsTheSecret() {
    let t = APIKeyToken.generate()
    #expect(!"\(t)".contains(t.secret))
    #expect(!String(reflecting: t).contains(t.secret))
    #expect("\(t)".contains(t.keyID))
  }

  static func malformedInputs() -> [String] {
    let t = APIKeyToken.generate().token
    return [
      "", "hk_", "hk__", "Bearer " + t, " " + t, t + " ", t + "\n",
      "HK_" + t.dropFirst(3), "hx_" + t.dropFirst(3), "sk_" + t.dropFirst(3),
      String(t.dropLast()), t + "a", String(t.prefix(20)),
      String(t.prefix(15)) + "-" + t.dropFirst(16),  // wrong separator
      "hk_" + t.dropFirst(3).replacingOccurrences(of: "_", with: ""),  // no separator
      String(t.prefix(10)) + "é" + t.dropFirst(12),  // unicode, same character count
      String(t.prefix(10)) + "\u{0}" + t.dropFirst(11),
      String(t.prefix(47)) + "🔑",
      String(repeating: "a", count: 48),
      "hk_" + String(repeating: "a", count: 12) + "_" + String(repeating: "%", count: 32),
      "hk_' OR '1'='1_" + String(repeating: "a", count: 32),
      String(repeating: "x", count: 10_240),
      "hk_" + String(repeating: "A", count: 10_240),
      t + String(repeating: "0", count: 10_000),
    ]
  }

  @Test(arguments: malformedInputs())
  func malformedKeysAreRefused(_ input: String) {
    #expect(throws: KeyFormatError.malformed) { try APIKeyToken.parse(input) }
  }

  @Test func everySingleCharacterChangeIsCaught() throws {
    let t = APIKeyToken.generate().token
    let chars = Array(t)
    let subs: [Character] = ["0", "Z", "z", "_", "-", "é"]
    var caught = 0
    for i in chars.indices {
      for c in subs where c != chars[i] {
        var m = chars
        m[i] = c
        #expect(throws: KeyFormatError.self) { try APIKeyToken.parse(String(m)) }
        caught += 1
      }
    }
    #expect(caught > 200)
  }

  @Test func checksumCatchesTyposInTheSecretAndTheID() throws {
    let t = APIKeyToken.generate()
    var secret = Array(t.secret)
    secret[3] = secret[3] == "a" ? "b" : "a"
    #expect(throws: KeyFormatError.badChecksum) { try APIKeyToken.parse("hk_\(t.keyID)_\(String(secret))") }
    var id = Array(t.keyID)
    id[0] = id[0] == "a" ? "b" : "a"
    #expect(throws: KeyFormatError.badChecksum) { try APIKeyToken.parse("hk_\(String(id))_\(t.secret)") }
    // Swapping two characters is a typo too.
    var swapped = Array(t.secret)
    if swapped[0] != swapped[1] {
      swapped.swapAt(0, 1)
      #expect(throws: KeyFormatError.badChecksum) { try APIKeyToken.parse("hk_\(t.keyID)_\(String(swapped))") }
    }
  }

  @Test func keyIDShape() {
    #expect(APIKeyToken.isValidKeyID("abcdefABCDEF"))
    #expect(!APIKeyToken.isValidKeyID("abcdefABCDE"))
    #expect(!APIKeyToken.isValidKeyID("abcdef'BCDEF"))
  }

  @Test func safeCompareComparesWholeStrings() {
    #expect(safeCompare(Data([1, 2, 3]), Data([1, 2, 3])))
    #expect(!safeCompare(Data([1, 2, 3]), Data([1, 2, 4])))
    #expect(!safeCompare(Data([1, 2, 3]), Data([1, 2])))
    #expect(!safeCompare(Data([9, 2, 3]), Data([1, 2, 3])))
  }

  @Test func randomBase62IsFromTheAlphabet() {
    let s = Base62.random(count: 10_000)
    #expect(s.utf8.allSatisfy { Base62.isDigit[Int($0)] })
    // Every one of the 62 characters shows up in 10,000 draws (p of a miss ~ 62 * e^-161).
    #expect(Set(s).count == 62)
  }
}

import Testing

@testable import LDAP

/// What a broken or hostile server could send: each must be refused with a typed error, never a
/// crash, a hang or an allocation sized by the attacker.
@Suite struct MalformedInputTests {
  static let ok: [UInt8] = LDAPMessage(id: 1, operation: .bindResponse(LDAPResult(code: 0))).encoded()

  static let corpus: [(String, [UInt8])] = [
    ("empty input", []),
    ("a lone tag", [0x30]),
    ("indefinite length", [0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00]),
    ("five length bytes", [0x30, 0x85, 0x00, 0x00, 0x00, 0x00, 0x05, 0x02, 0x01, 0x01]),
    ("length past the end", [0x30, 0x7F, 0x02, 0x01, 0x01]),
    ("4 GiB claimed", [0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF, 0x02, 0x01, 0x01]),
    ("not a SEQUENCE", [0x31, 0x03, 0x02, 0x01, 0x01]),
    ("multi-byte tag", [0x30, 0x05, 0x1F, 0x81, 0x01, 0x01, 0x00]),
    ("no protocolOp", [0x30, 0x03, 0x02, 0x01, 0x01]),
    ("empty messageID", [0x30, 0x04, 0x02, 0x00, 0x42, 0x00]),
    ("negative messageID", [0x30, 0x05, 0x02, 0x01, 0xFF, 0x42, 0x00]),
    ("nine-byte messageID", [0x30, 0x0D, 0x02, 0x09, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0x42, 0x00]),
    ("messageID above Int32", [0x30, 0x09, 0x02, 0x05, 0x01, 0x00, 0x00, 0x00, 0x00, 0x42, 0x00]),
    ("unknown operation (ModifyRequest)", [0x30, 0x05, 0x02, 0x01, 0x01, 0x66, 0x00]),
    ("universal tag as operation", [0x30, 0x05, 0x02, 0x01, 0x01, 0x04, 0x00]),
    ("trailing bytes after the message", ok + [0x00]),
    ("trailing bytes inside the operation", [0x30, 0x0E, 0x02, 0x01, 0x01, 0x61, 0x09, 0x0A, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00, 0x05, 0x00]),
    ("BindResponse without diagnosticMessage", [0x30, 0x0A, 0x02, 0x01, 0x01, 0x61, 0x05, 0x0A, 0x01, 0x00, 0x04, 0x00]),
    ("resultCode as INTEGER", [0x30, 0x0C, 0x02, 0x01, 0x01, 0x61, 0x07, 0x02, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00]),
    ("negative resultCode", [0x30, 0x0C, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0A, 0x01, 0xFF, 0x04, 0x00, 0x04, 0x00]),
    ("child longer than parent", [0x30, 0x0C, 0x02, 0x01, 0x01, 0x61, 0x07, 0x0A, 0x01, 0x00, 0x04, 0x05, 0x04, 0x00]),
    ("invalid UTF-8 in a DN", [0x30, 0x0D, 0x02, 0x01, 0x01, 0x64, 0x08, 0x04, 0x02, 0xC3, 0x28, 0x30, 0x02, 0x30, 0x00]),
    ("attribute values not a SET", [0x30, 0x12, 0x02, 0x01, 0x01, 0x64, 0x0D, 0x04, 0x01, 0x78, 0x30, 0x08, 0x30, 0x06, 0x04, 0x02, 0x63, 0x6E, 0x30, 0x00]),
    ("attribute without values", [0x30, 0x0E, 0x02, 0x01, 0x01, 0x64, 0x09, 0x04, 0x01, 0x78, 0x30, 0x04, 0x30, 0x02, 0x04, 0x00]),
    ("reference without URI", [0x30, 0x05, 0x02, 0x01, 0x01, 0x73, 0x00]),
    ("unbind as constructed", [0x30, 0x05, 0x02, 0x01, 0x01, 0x62, 0x00]),
    ("UnbindRequest with contents", [0x30, 0x06, 0x02, 0x01, 0x01, 0x42, 0x01, 0x00]),
  ]

  @Test(arguments: corpus)
  func malformedMessagesAreRefused(name: String, bytes: [UInt8]) {
    do {
      let m = try LDAPMessage.decode(bytes)
      Issue.record("\(name): decoded as \(m)")
    } catch {
      guard case .protocolError(let why) = error else {
        Issue.record("\(name): \(error)")
        return
      }
      #expect(why.hasPrefix("malformed LDAP message"))
    }
  }

  @Test func filterNestingIsBounded() {
    // A SearchRequest whose filter is 40 nested NOTs: refused, not recursed into.
    var nested = LDAPFilter.present("x")
    for _ in 0..<40 { nested = .not(nested) }
    let bytes = LDAPMessage(id: 1, operation: .searchRequest(LDAPSearchRequest(
      baseDN: "", scope: .baseObject, filter: nested, attributes: []))).encoded()
    #expect(throws: LDAPError.self) { try LDAPMessage.decode(bytes) }
    var deepText = "(uid=x)"
    for _ in 0..<40 { deepText = "(!\(deepText))" }
    #expect(throws: LDAPError.self) { try LDAPFilter.parse(deepText) }
  }

  @Test func everyTruncationOfEveryValidMessageIsRefused() {
    for message in BERTests.messages {
      let bytes = message.encoded()
      for cut in 0..<bytes.count {
        #expect(throws: LDAPError.self, "\(message.operation.name) cut at \(cut)") {
          try LDAPMessage.decode(Array(bytes[..<cut]))
        }
      }
    }
  }

  /// Random byte flips and splices of valid messages: the decoder must return or throw, and
  /// whatever it returns must encode again (so no half-read state escapes).
  @Test func mutatedMessagesNeverCrash() throws {
    var rng = SplitMix64(seed: 0x4845_4152_5448)
    var decoded = 0
    for _ in 0..<20_000 {
      var bytes = BERTests.messages[Int(rng.next() % UInt64(BERTests.messages.count))].encoded()
      for _ in 0...(rng.next() % 4) {
        let i = Int(rng.next() % UInt64(bytes.count))
        switch rng.next() % 3 {
        case 0: bytes[i] ^= UInt8(truncatingIfNeeded: 1 << (rng.next() % 8))
        case 1: bytes[i] = UInt8(truncatingIfNeeded: rng.next())
        default: bytes.insert(UInt8(truncatingIfNeeded: rng.next()), at: i)
        }
      }
      if let m = try? LDAPMessage.decode(bytes) {
        decoded += 1
        #expect(try LDAPMessage.decode(m.encoded()) == m)
      }
    }
    // Most mutations break the structure; some (a changed byte inside a string) do not.
    #expect(decoded > 0 && decoded < 20_000)
  }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  init(seed: UInt64) { state = seed }
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

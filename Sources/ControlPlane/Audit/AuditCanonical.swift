import Crypto
import Foundation

/// The canonical byte serialization that record hashes and checkpoint signatures cover.
///
/// Fixed field order; every field is a one-byte tag, then for text and bytes a presence byte and a
/// 4-byte big-endian length, for integers a presence byte and 8 big-endian bytes. Times are whole
/// microseconds since 1970. No JSON re-encoding is involved: the before/after JSON is hashed as the
/// exact text stored, so verification never depends on an encoder's formatting.
public enum AuditCanonical {
  static let recordDomain = Array("hearth-audit-record-v1".utf8)
  static let checkpointDomain = Array("hearth-audit-checkpoint-v1".utf8)

  public static func micros(_ d: Date) -> Int64 { Int64((d.timeIntervalSince1970 * 1_000_000).rounded()) }
  public static func date(micros: Int64) -> Date { Date(timeIntervalSince1970: Double(micros) / 1_000_000) }
  static func truncated(_ d: Date) -> Date { date(micros: micros(d)) }

  public static func recordBytes(seq: Int64, draft d: AuditDraft, prevHash: Data) -> [UInt8] {
    var w = Writer(domain: recordDomain)
    w.int(1, seq)
    w.bytes(2, prevHash)
    w.int(3, micros(d.time))
    w.text(4, d.kind.rawValue)
    w.text(5, d.tenantID)
    w.text(6, d.keyID)
    w.text(7, d.userID)
    w.text(8, d.actor)
    w.text(9, d.action)
    w.text(10, d.route)
    w.text(11, d.model)
    w.text(12, d.modelVersion)
    w.int(13, d.status.map(Int64.init))
    w.int(14, d.promptTokens.map(Int64.init))
    w.int(15, d.completionTokens.map(Int64.init))
    w.int(16, d.latencyMicros)
    w.text(17, d.client)
    w.bytes(18, d.promptMAC)
    w.bytes(19, d.promptCapture)
    w.text(20, d.target)
    w.text(21, d.before)
    w.text(22, d.after)
    w.text(23, d.detail)
    return w.out
  }

  public static func hash(seq: Int64, draft: AuditDraft, prevHash: Data) -> Data {
    Data(SHA256.hash(data: recordBytes(seq: seq, draft: draft, prevHash: prevHash)))
  }

  /// What a checkpoint's signature covers (everything but the signature).
  public static func checkpointBytes(_ c: AuditCheckpoint) -> [UInt8] {
    var w = Writer(domain: checkpointDomain)
    w.int(1, c.seq)
    w.int(2, c.recordSeq)
    w.bytes(3, c.recordHash)
    w.int(4, micros(c.time))
    w.bytes(5, c.prevSignature)
    w.text(6, c.signingKeyID)
    return w.out
  }

  struct Writer {
    var out: [UInt8]

    init(domain: [UInt8]) {
      out = domain
      out.append(0)
    }

    mutating func tag(_ t: UInt8, present: Bool) {
      out.append(t)
      out.append(present ? 1 : 0)
    }

    mutating func int(_ t: UInt8, _ v: Int64?) {
      tag(t, present: v != nil)
      guard let v else { return }
      withUnsafeBytes(of: v.bigEndian) { out.append(contentsOf: $0) }
    }

    mutating func bytes<D: DataProtocol>(_ t: UInt8, _ v: D?) {
      tag(t, present: v != nil)
      guard let v else { return }
      withUnsafeBytes(of: UInt32(v.count).bigEndian) { out.append(contentsOf: $0) }
      out.append(contentsOf: v)
    }

    mutating func text(_ t: UInt8, _ v: String?) { bytes(t, v.map { Array($0.utf8) }) }
  }
}

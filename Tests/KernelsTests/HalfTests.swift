import Kernels
import Testing

@Suite struct HalfTests {
  @Test func everyHalfRoundTrips() {
    for h in 0...UInt16.max {
      let f = Half.toFloat(h)
      if f.isNaN {
        #expect(Half.fromFloat(f) & 0x7C00 == 0x7C00 && Half.fromFloat(f) & 0x3FF != 0)
        // Payload kept, not quieted (what numpy does).
        #expect(f.bitPattern == (UInt32(h & 0x8000) << 16) | 0x7F80_0000 | (UInt32(h & 0x3FF) << 13))
      } else {
        #expect(Half.fromFloat(f) == h, "half \(h)")
        #expect(f == Float(Float16(bitPattern: h)), "half \(h)")
      }
    }
  }

  @Test func lookupTableIsTheExactConversion() {
    for h in 0...UInt16.max { #expect(Half.lookup(h).bitPattern == Half.toFloat(h).bitPattern, "half \(h)") }
  }

  @Test func roundsToNearestEvenLikeFloat16() {
    var rng = Rng(7)
    for i in 0..<200_000 {
      // Random bit patterns cover normals, subnormals, overflow and ties.
      let f = Float(bitPattern: UInt32(truncatingIfNeeded: rng.next()))
      if f.isNaN { continue }
      #expect(Half.fromFloat(f) == Float16(f).bitPattern, "case \(i): \(f)")
      // Exact ties between neighbouring halves.
      let h = UInt16(truncatingIfNeeded: rng.next()) & 0x7BFF
      let tie = (Double(Half.toFloat(h)) + Double(Half.toFloat(h + 1))) / 2
      #expect(Half.fromFloat(Float(tie)) == Float16(Float(tie)).bitPattern)
    }
  }

  @Test func bf16MatchesGGML() {
    #expect(Half.bf16FromFloat(1.0) == 0x3F80)
    #expect(Half.bf16FromFloat(Float(bitPattern: 0x3F80_8000)) == 0x3F80)  // tie to even
    #expect(Half.bf16FromFloat(Float(bitPattern: 0x3F81_8000)) == 0x3F82)
    #expect(Half.bf16FromFloat(Float(bitPattern: 0x7F80_0001)) == 0x7FC0)  // NaN forced quiet
    #expect(Half.bf16ToFloat(0xC040) == -3.0)
  }
}

import Foundation
import Testing

@testable import ControlPlane

/// The routing math: splits follow the weights, A/B callers stay on their side, everything is deterministic.
@Suite struct DeploymentRoutingTests {
  let v1 = VersionRef(model: "smol", version: "1")
  let v2 = VersionRef(model: "smol", version: "2")

  func share(_ state: DeploymentState, requests: Int = 2000, sticky: (Int) -> String? = { _ in nil }) -> Double {
    let hits = (0..<requests).filter { i in
      TrafficSplit.choose(state, deployment: "chat", requestKey: "chatcmpl-\(i)", stickyKey: sticky(i)).variant == .candidate
    }.count
    return Double(hits) / Double(requests) * 100
  }

  @Test(arguments: [5, 10, 25, 50, 90])
  func canarySplitFollowsTheWeight(_ weight: Int) {
    let s = share(DeploymentState(strategy: .canary, primary: v1, candidate: v2, weight: weight))
    #expect(abs(s - Double(weight)) <= 3, "canary at \(weight) % sent \(s) %")
  }

  @Test func edgesAndSingle() {
    #expect(share(DeploymentState(strategy: .canary, primary: v1, candidate: v2, weight: 0)) == 0)
    #expect(share(DeploymentState(strategy: .canary, primary: v1, candidate: v2, weight: 100)) == 100)
    #expect(share(DeploymentState(primary: v1)) == 0)
    let shadow = DeploymentState(strategy: .shadow, primary: v1, candidate: v2, weight: 100)
    let c = TrafficSplit.choose(shadow, deployment: "chat", requestKey: "r1", stickyKey: nil)
    #expect(c.serve == v1 && c.variant == .primary && c.shadow == v2)
  }

  @Test func abIsStickyPerCallerAndSplitsCallersByWeight() {
    let ab = DeploymentState(strategy: .ab, primary: v1, candidate: v2, weight: 30)
    // 2,000 distinct users: about 30 % of them land on the candidate.
    let s = share(ab, sticky: { "user:\($0)" })
    #expect(abs(s - 30) <= 3, "A/B at 30 % put \(s) % of users on the candidate")
    // One user's requests, whatever their request ids, all go to the same side.
    for user in 0..<200 {
      let sides = Set((0..<20).map { r in TrafficSplit.choose(ab, deployment: "chat", requestKey: "req-\(user)-\(r)", stickyKey: "user:\(user)").serve })
      #expect(sides.count == 1, "user \(user) was split across versions")
    }
    // Raising the weight moves users only from the primary to the candidate, never back.
    let more = DeploymentState(strategy: .ab, primary: v1, candidate: v2, weight: 60)
    for user in 0..<2000 {
      let before = TrafficSplit.choose(ab, deployment: "chat", requestKey: "x", stickyKey: "user:\(user)").serve
      let after = TrafficSplit.choose(more, deployment: "chat", requestKey: "x", stickyKey: "user:\(user)").serve
      if before == v2 { #expect(after == v2) }
    }
  }

  @Test func deterministicAndIndependentPerDeployment() {
    #expect(TrafficSplit.bucket("user:7", salt: "chat") == TrafficSplit.bucket("user:7", salt: "chat"))
    // A known value pins the hash, so a change of algorithm (which would move every A/B user) is noticed.
    #expect(TrafficSplit.bucket("user:7", salt: "chat") == Self.pinnedBucket)
    let a = (0..<500).map { TrafficSplit.bucket("user:\($0)", salt: "ab:chat") < 5000 }
    let b = (0..<500).map { TrafficSplit.bucket("user:\($0)", salt: "ab:other") < 5000 }
    #expect(a != b, "two deployments must not split the same users the same way")
  }

  static let pinnedBucket = 1346
}

import BackupModel
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Retention")
struct RetentionTests {
    static let day: Int64 = 86400
    /// 2026-09-21T00:00:00Z.
    static let start: Int64 = 1_790_000_000 - 1_790_000_000 % 86400

    func randomCandidates(_ generator: inout SeededGenerator) -> [Retention.Candidate] {
        let count = Int.random(in: 0...60, using: &generator)
        return (0..<count).map { index in
            let created = Self.start + Int64.random(in: 0...(400 * Self.day), using: &generator)
            return Retention.Candidate(name: "flowgateway-\(created)-\(index)", created: created)
        }
    }

    @Test(arguments: 0..<200)
    func theNewestAlwaysSurvivesAndNothingIsLostOrInvented(seed: Int) {
        var generator = SeededGenerator(state: UInt64(seed) &+ 1)
        let candidates = self.randomCandidates(&generator)
        let policy = RetentionPolicy(
            keepLast: Int.random(in: 0...5, using: &generator), keepDaily: Int.random(in: 0...7, using: &generator),
            keepWeekly: Int.random(in: 0...4, using: &generator), keepMonthly: Int.random(in: 0...6, using: &generator))
        let decisions = Retention.decide(candidates, policy: policy)
        #expect(Set(decisions.map(\.name)) == Set(candidates.map(\.name)), "every backup gets exactly one decision")
        #expect(decisions.count == candidates.count)
        if let newest = candidates.max(by: { ($0.created, $0.name) < ($1.created, $1.name) }) {
            #expect(decisions.first { $0.name == newest.name }?.keep == true, "seed \(seed): the newest is kept")
        }
        // What is kept is bounded by the policy (plus the newest).
        let bound = (policy.keepLast ?? 0) + (policy.keepDaily ?? 0) + (policy.keepWeekly ?? 0) + (policy.keepMonthly ?? 0) + 1
        #expect(decisions.filter(\.keep).count <= bound, "seed \(seed)")
        // keep-last N keeps the newest N, whatever else.
        let newestFirst = candidates.sorted { ($0.created, $0.name) > ($1.created, $1.name) }
        for candidate in newestFirst.prefix(policy.keepLast ?? 0) {
            #expect(decisions.first { $0.name == candidate.name }?.keep == true, "seed \(seed): last \(policy.keepLast ?? 0)")
        }
        for decision in decisions { #expect(!decision.reasons.isEmpty) }
    }

    @Test func dailyWeeklyAndMonthlyKeepTheNewestOfEachPeriod() {
        // Two backups a day for 40 days.
        var candidates: [Retention.Candidate] = []
        for day in 0..<40 {
            for hour in [1, 13] {
                let created = Self.start + Int64(day) * Self.day + Int64(hour) * 3600
                candidates.append(.init(name: "b-\(day)-\(hour)", created: created))
            }
        }
        let decisions = Retention.decide(candidates, policy: RetentionPolicy(keepDaily: 3))
        let kept = decisions.filter(\.keep).map(\.name)
        #expect(kept == ["b-39-13", "b-38-13", "b-37-13"], "the evening backup of each of the last 3 days: \(kept)")
        #expect(decisions.first { $0.name == "b-39-13" }?.reasons.contains("newest complete backup") == true)
        #expect(decisions.first { $0.name == "b-39-1" }?.reasons == ["beyond the policy"])
        let monthly = Retention.decide(candidates, policy: RetentionPolicy(keepMonthly: 12)).filter(\.keep)
        #expect(monthly.count == 2, "40 days starting 2026-09-21 span two months: \(monthly.map(\.name))")
    }

    @Test func anEmptyPolicyIsRefused() {
        #expect(throws: BackupError.self) { try RetentionPolicy().validate() }
        #expect(throws: BackupError.self) { try RetentionPolicy(keepLast: 0, keepDaily: 0).validate() }
        #expect(throws: BackupError.self) { try RetentionPolicy(keepLast: -1).validate() }
        #expect(throws: Never.self) { try RetentionPolicy(keepWeekly: 1).validate() }
    }
}

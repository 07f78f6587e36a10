import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Job statistics")
struct JobStatisticsTests {
    func record(_ id: String, _ status: JobState, start: Int64, end: Int64, components: [ComponentResult] = [], bytes: UInt64 = 0) -> JobRecord {
        JobRecord(host: "localhost", username: "mazu", path: "/b", timeStamp: start, status: status, id: id, finished: end, components: components,
                  progress: .init(completedComponents: components.count, totalComponents: components.count, bytes: bytes))
    }

    @Test func aJobIsCountedOnceWhenItsFinalRecordIsSaved() throws {
        var statistics = JobStatistics()
        let running = statistics.count(self.record("a", .executing, start: 100, end: 100), job: .backup)
        #expect(!running)
        let done = self.record("a", .completed, start: 100, end: 130, components: [ComponentResult(name: "config", status: .ok), ComponentResult(name: "snmp", status: .failed)], bytes: 4096)
        let first = statistics.count(done, job: .backup)
        let again = statistics.count(done, job: .backup)
        #expect(first && !again, "saved twice, counted once")
        let failed = statistics.count(self.record("b", .error, start: 200, end: 205), job: .backup)
        #expect(failed)
        #expect(statistics.backup.completed == 1 && statistics.backup.errors == 1)
        #expect(statistics.backup.lastSuccess == 130 && statistics.backup.lastAttempt == 205)
        #expect(statistics.lastBackupBytes == 4096)
        #expect(statistics.componentLastSuccess == ["config": 130])
        #expect(statistics.backup.durations.count == 2 && statistics.backup.durations.sum == 35)
        #expect(statistics.restore == JobStatistics.Kind())
    }

    @Test func componentLabelsStayBounded() {
        var statistics = JobStatistics()
        for index in 0..<200 {
            let components = [ComponentResult(name: "c\(index)", status: .ok)]
            statistics.count(self.record("j\(index)", .completed, start: Int64(index), end: Int64(index) + 1, components: components), job: .backup)
        }
        #expect(statistics.componentLastSuccess.count == JobStatistics.componentLimit)
        #expect(statistics.componentLastSuccess["c199"] != nil && statistics.componentLastSuccess["c0"] == nil, "the oldest go")
    }

    /// Any histogram, replayed into an empty one, gives the same bucket counts and the same sum.
    @Test func replayedValuesRebuildTheHistogramExactly() {
        for seed in 0..<300 {
            var generator = SeededGenerator(state: UInt64(seed))
            var original = JobStatistics.DurationHistogram()
            for _ in 0..<Int.random(in: 0...40, using: &generator) {
                let value = [Double.random(in: 0...2, using: &generator), Double.random(in: 0...9000, using: &generator), Double(Int.random(in: 0...8000, using: &generator))].randomElement(using: &generator)!
                original.record(value)
            }
            var replayed = JobStatistics.DurationHistogram()
            for value in original.replayValues() { replayed.record(value) }
            #expect(replayed.counts == original.counts)
            #expect(abs(replayed.sum - original.sum) <= 1e-6 * max(1, original.sum), "seed \(seed): \(replayed.sum) vs \(original.sum)")
        }
    }
}

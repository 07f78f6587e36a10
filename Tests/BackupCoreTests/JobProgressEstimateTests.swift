import BackupCore
import BackupModel
import BackupPOSIX
import Testing

@Suite("Progress: share done and time left")
struct JobProgressEstimateTests {
    func event(_ component: String?, done: Int, of total: Int, bytes: UInt64 = 0) -> JobProgress {
        JobProgress(job: "backup", phase: "encrypting", component: component, completedComponents: done, totalComponents: total, bytes: bytes)
    }

    @Test func theShareCountsComponentsAndThePartOfTheCurrentOneItsLastSizeSays() {
        var estimate = JobProgressEstimate(expectedBytes: ["bulk": 1000], now: 0)
        #expect(estimate.update(self.event("config", done: 0, of: 4)) == 0)
        #expect(estimate.update(self.event("bulk", done: 1, of: 4, bytes: 500)) == (1 + 0.5) / 4)
        // A component that grew past its last size is not done until the job says so.
        #expect(estimate.update(self.event("bulk", done: 1, of: 4, bytes: 5000)) == (1 + 0.99) / 4)
        #expect(estimate.update(self.event("ntp", done: 4, of: 4)) == 1)
    }

    @Test func itNeverGoesBackwardsWhenParallelComponentsInterleave() {
        var estimate = JobProgressEstimate(expectedBytes: ["a": 100, "b": 100], now: 0)
        let ahead = estimate.update(self.event("a", done: 2, of: 4, bytes: 90))
        let behind = estimate.update(self.event("b", done: 1, of: 4, bytes: 10))
        #expect(behind == ahead && ahead > 0.5)
    }

    @Test func theTimeLeftFollowsTheRateAndIsWithheldWhileItWouldBeNoise() {
        var estimate = JobProgressEstimate(now: 100)
        _ = estimate.update(self.event("a", done: 1, of: 100))
        #expect(estimate.secondsLeft(now: 110) == nil, "1 % is below the 2 % an estimate needs")
        #expect(estimate.describe(now: 110) == "1%  ETA --")
        _ = estimate.update(self.event("a", done: 25, of: 100))
        #expect(estimate.secondsLeft(now: 100.5) == nil, "under a second")
        #expect(estimate.secondsLeft(now: 110) == 30)
        #expect(estimate.describe(now: 110) == "25%  ETA 0:30")
        _ = estimate.update(self.event("a", done: 50, of: 100))
        #expect(estimate.describe(now: 100 + 3725) == "50%  ETA 1:02:05")
    }

    @Test func unknownSizesAndEmptyJobsDoNotDivideByZero() {
        var estimate = JobProgressEstimate(expectedBytes: ["a": 0], now: 0)
        #expect(estimate.update(self.event("a", done: 0, of: 0, bytes: 10)) == 0)
        #expect(estimate.update(self.event(nil, done: 3, of: 2)) == 1)
    }
}

import BackupModel
import BackupPOSIX
import Foundation

/// Time as the scheduler sees it: the wall clock in production, a clock the test moves in tests.
public protocol ScheduleClock: Sendable {
    func now() -> Date
    /// Returns at `date` (or soon after), or throws when the task is cancelled.
    func sleep(until date: Date) async throws
}

/// The wall clock. Sleeps in slices of at most a minute and looks at the time again after each,
/// so that a clock set forward, or a machine that was suspended, does not delay a run by hours.
public struct SystemScheduleClock: ScheduleClock {
    public init() {}

    public func now() -> Date { Date() }

    public func sleep(until date: Date) async throws {
        while true {
            let remaining = date.timeIntervalSinceNow
            guard remaining > 0 else { return }
            try await Task.sleep(for: .milliseconds(Int64(min(remaining, 60) * 1000) + 1))
        }
    }
}

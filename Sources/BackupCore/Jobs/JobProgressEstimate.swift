import BackupModel
import BackupPOSIX
import Foundation

/// How far a job has come, as a share and a time left, from its progress events: the components
/// done, plus the part of the current one that its bytes so far make of its expected size (the size
/// it had in the last backup, when known). Never goes backwards (events of components running in
/// parallel arrive interleaved), and gives no time left before 2 % or 1 s: a guess from less is noise.
public struct JobProgressEstimate: Sendable {
    /// Expected bytes per component name (e.g. the last successful backup's sizes).
    public var expectedBytes: [String: UInt64]
    private let started: Double
    private var fraction = 0.0

    /// `now` in seconds on any clock that only moves forward (the same as `update`'s).
    public init(expectedBytes: [String: UInt64] = [:], now: Double) {
        self.expectedBytes = expectedBytes
        self.started = now
    }

    /// The share done (0...1) after `event`.
    public mutating func update(_ event: JobProgress) -> Double {
        let total = Double(max(event.totalComponents, 1))
        var current = 0.0
        if let name = event.component, let expected = self.expectedBytes[name], expected > 0 {
            // Below 1: a component that grew since the last backup is not done until it says so.
            current = min(Double(event.bytes) / Double(expected), 0.99)
        }
        let share = min((Double(min(event.completedComponents, event.totalComponents)) + current) / total, 1)
        self.fraction = max(self.fraction, share)
        return self.fraction
    }

    /// Seconds left at `now` by the rate so far; nil while the estimate would be noise.
    public func secondsLeft(now: Double) -> Double? {
        let elapsed = now - self.started
        guard self.fraction >= 0.02, elapsed >= 1 else { return nil }
        return elapsed * (1 - self.fraction) / self.fraction
    }

    /// `43%  ETA 0:07` (or `ETA 1:02:05`; `ETA --` while there is no estimate).
    public func describe(now: Double) -> String {
        let percent = "\(Int((self.fraction * 100).rounded(.down)))%"
        guard let left = self.secondsLeft(now: now) else { return percent + "  ETA --" }
        let seconds = Int(left.rounded(.up))
        let clock = seconds >= 3600
            ? String(format: "%d:%02d:%02d", seconds / 3600, seconds / 60 % 60, seconds % 60)
            : String(format: "%d:%02d", seconds / 60, seconds % 60)
        return percent + "  ETA " + clock
    }
}

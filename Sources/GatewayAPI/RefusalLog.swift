import BackupCore
import BackupModel
import BackupPOSIX
import Logging
import NIOConcurrencyHelpers

/// Logs what the server refuses or drops below HTTP (a connection over a cap, one evicted for a newer
/// one, a head that never came, a request HTTP cannot parse) at most once per address and kind a
/// minute, with how many were left unlogged since: a flood costs a log line a minute, not a line a
/// connection, and is still seen.
final class RefusalLog: Sendable {
    private struct Seen {
        var last: ContinuousClock.Instant
        var suppressed: Int
    }

    private let logger: Logger
    private let interval: Duration
    private let seen = NIOLockedValueBox([String: Seen]())
    /// Past this many (address, kind) pairs the table starts over rather than grows.
    static let capacity = 10_000

    init(logger: Logger, interval: Duration = .seconds(60)) {
        self.logger = logger
        self.interval = interval
    }

    /// Logs `event` for `address` unless it was logged for that address in the last interval.
    func note(_ event: String, address: String, detail: String, now: ContinuousClock.Instant = .now) {
        let key = event + " " + address
        let suppressed: Int? = self.seen.withLockedValue { seen in
            if let entry = seen[key], now - entry.last < self.interval {
                seen[key]?.suppressed += 1
                return nil
            }
            if seen.count >= Self.capacity { seen.removeAll(keepingCapacity: true) }
            let before = seen[key]?.suppressed ?? 0
            seen[key] = Seen(last: now, suppressed: 0)
            return before
        }
        guard let suppressed else { return }
        self.logger.notice("\(event)", metadata: [
            "address": "\(SafeText.field(address))", "detail": "\(SafeText.field(detail))", "unlogged_since": "\(suppressed)",
        ])
    }
}

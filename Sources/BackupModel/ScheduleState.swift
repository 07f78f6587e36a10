import Foundation

/// What the scheduler remembers per schedule, in the state directory (`schedule-state.json`), so
/// that a restart knows which run was missed and `gwbackup schedules` can show the last ones.
public struct ScheduleState: Codable, Sendable, Equatable {
    /// One schedule's memory.
    public struct Entry: Codable, Sendable, Equatable {
        /// Epoch seconds up to which every planned time has been handled (run or skipped): the next
        /// run is the expression's first time after it.
        public var handledUntil: Int64
        /// The latest run: when it started, the planned time it was for, and how it ended.
        public var lastRun: Run?
        /// The latest run that was skipped, and why.
        public var lastSkipped: Run?
        /// When the next run is planned (epoch seconds), as of the last look.
        public var nextRun: Int64?
        /// The planned time (epoch seconds) of a run skipped because another job held the lock: it is
        /// tried again every minute until it runs, or until the schedule's next run is due (kept
        /// here, so a restart keeps trying).
        public var retry: Int64?
        /// A run that came due and waits its random delay: its planned time and when it starts
        /// (epoch seconds). Kept here, so a restart during the delay still runs it.
        public var delayed: Delayed?

        public init(handledUntil: Int64, lastRun: Run? = nil, lastSkipped: Run? = nil, nextRun: Int64? = nil, retry: Int64? = nil, delayed: Delayed? = nil) {
            self.handledUntil = handledUntil
            self.lastRun = lastRun
            self.lastSkipped = lastSkipped
            self.nextRun = nextRun
            self.retry = retry
            self.delayed = delayed
        }
    }

    /// A run waiting for its random delay.
    public struct Delayed: Codable, Sendable, Equatable {
        public var planned: Int64
        public var starts: Int64
        public var catchUp: Bool

        public init(planned: Int64, starts: Int64, catchUp: Bool) {
            self.planned = planned
            self.starts = starts
            self.catchUp = catchUp
        }
    }

    /// A run, or a skipped one.
    public struct Run: Codable, Sendable, Equatable {
        /// The planned time (epoch seconds).
        public var planned: Int64
        /// When it started, or was skipped (epoch seconds).
        public var at: Int64
        /// `COMPLETED`, `ERROR` or `SKIPPED`.
        public var result: String
        /// Why it failed or was skipped; for a catch-up run, says so.
        public var message: String

        public init(planned: Int64, at: Int64, result: String, message: String = "") {
            self.planned = planned
            self.at = at
            self.result = result
            self.message = message
        }

        // Each time also as ISO 8601 UTC text, for people reading the state file, the API's
        // schedules and `gwbackup schedules --json`; the epoch seconds are what is read back.
        enum CodingKeys: String, CodingKey {
            case planned, at, result, message
            case plannedTime = "planned_time"
            case atTime = "at_time"
        }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            self.planned = try container.decode(Int64.self, forKey: .planned)
            self.at = try container.decode(Int64.self, forKey: .at)
            self.result = try container.decode(String.self, forKey: .result)
            self.message = try container.decode(String.self, forKey: .message)
        }

        public func encode(to encoder: any Encoder) throws {
            var container = encoder.container(keyedBy: CodingKeys.self)
            try container.encode(self.planned, forKey: .planned)
            try container.encode(ScheduleState.readableTime(self.planned), forKey: .plannedTime)
            try container.encode(self.at, forKey: .at)
            try container.encode(ScheduleState.readableTime(self.at), forKey: .atTime)
            try container.encode(self.result, forKey: .result)
            try container.encode(self.message, forKey: .message)
        }
    }

    /// `seconds` since the epoch as ISO 8601 UTC text (`2026-12-07T02:15:00Z`).
    public static func readableTime(_ seconds: Int64) -> String {
        var time = time_t(seconds)
        var parts = tm()
        guard gmtime_r(&time, &parts) != nil else { return "" }
        return String(format: "%04d-%02d-%02dT%02d:%02d:%02dZ", Int(parts.tm_year) + 1900, Int(parts.tm_mon) + 1, Int(parts.tm_mday), Int(parts.tm_hour), Int(parts.tm_min), Int(parts.tm_sec))
    }

    public var schedules: [String: Entry] = [:]

    public init() {}

    /// When `schedule` runs next (epoch seconds): as the scheduler planned it (a scheduler that
    /// stopped leaves it in the past, which the alerts see), else as its expression says.
    public func nextRun(of schedule: ScheduleConfiguration, now: Date) -> Int64? {
        self.schedules[schedule.name]?.nextRun ?? schedule.upcoming(after: now).map { Int64($0.next.timeIntervalSince1970) }
    }
}

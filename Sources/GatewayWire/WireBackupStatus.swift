public import BackupModel
import Foundation

/// The one element of the `GET …/backup` answer: `last_successful` (`{}` before the first backup),
/// `running`, and this server's `schedules`.
public struct WireBackupStatus: Codable, Sendable {
    public var status: BackupStatus
    /// The server's schedules (absent when it has none); other servers of the family send none.
    public var schedules: [WireSchedule]?

    public init(_ status: BackupStatus, schedules: [WireSchedule]? = nil) {
        self.status = status
        self.schedules = schedules
    }

    enum CodingKeys: String, CodingKey {
        case lastSuccessful = "last_successful"
        case running, schedules
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let running = try container.decode(WireJobRecord.self, forKey: .running).record
        let last = try container.decodeIfPresent([String: JSONValue].self, forKey: .lastSuccessful) ?? [:]
        var lastSuccessful: JobRecord?
        if !last.isEmpty {
            var record = try container.decode(WireJobRecord.self, forKey: .lastSuccessful).record
            // The document gives `last_successful` no status: it completed, by definition.
            if record.status == .none { record.status = .completed }
            lastSuccessful = record
        }
        self.status = BackupStatus(lastSuccessful: lastSuccessful, running: running)
        self.schedules = try container.decodeIfPresent([WireSchedule].self, forKey: .schedules)
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        if let last = self.status.lastSuccessful {
            try container.encode(WireJobRecord(last), forKey: .lastSuccessful)
        } else {
            try container.encode([String: String](), forKey: .lastSuccessful)
        }
        try container.encode(WireJobRecord(self.status.running), forKey: .running)
        try container.encodeIfPresent(self.schedules, forKey: .schedules)
    }

    /// The whole answer: a list of one element.
    public static func decodeAnswer(_ data: Data) throws -> WireBackupStatus {
        let list = try JSONDecoder().decode([WireBackupStatus].self, from: data)
        guard let first = list.first else {
            throw DecodingError.dataCorrupted(.init(codingPath: [], debugDescription: "the answer is an empty list"))
        }
        return first
    }
}

/// A schedule of the server, in the backup status: when it runs next, its last run and last skipped run.
public struct WireSchedule: Codable, Sendable, Equatable {
    public var name: String
    public var cron: String
    public var timeZone: String
    /// Epoch seconds; absent when the expression names no future time.
    public var nextRun: Int64?
    public var lastRun: ScheduleState.Run?
    public var lastSkipped: ScheduleState.Run?

    enum CodingKeys: String, CodingKey {
        case name, cron
        case timeZone = "time_zone"
        case nextRun = "next_run"
        case nextRunTime = "next_run_time"
        case lastRun = "last_run"
        case lastSkipped = "last_skipped"
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.cron = try container.decode(String.self, forKey: .cron)
        self.timeZone = try container.decode(String.self, forKey: .timeZone)
        self.nextRun = try container.decodeIfPresent(Int64.self, forKey: .nextRun)
        self.lastRun = try container.decodeIfPresent(ScheduleState.Run.self, forKey: .lastRun)
        self.lastSkipped = try container.decodeIfPresent(ScheduleState.Run.self, forKey: .lastSkipped)
    }

    /// As decoded, with the next run's time also as ISO 8601 UTC text (`next_run_time`).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.name, forKey: .name)
        try container.encode(self.cron, forKey: .cron)
        try container.encode(self.timeZone, forKey: .timeZone)
        try container.encodeIfPresent(self.nextRun, forKey: .nextRun)
        try container.encodeIfPresent(self.nextRun.map(ScheduleState.readableTime), forKey: .nextRunTime)
        try container.encodeIfPresent(self.lastRun, forKey: .lastRun)
        try container.encodeIfPresent(self.lastSkipped, forKey: .lastSkipped)
    }

    public init(name: String, cron: String, timeZone: String, nextRun: Int64?, lastRun: ScheduleState.Run?, lastSkipped: ScheduleState.Run?) {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.nextRun = nextRun
        self.lastRun = lastRun
        self.lastSkipped = lastSkipped
    }

    /// The views of `schedules` at `now`, with what `state` remembers.
    public static func views(_ schedules: [ScheduleConfiguration], state: ScheduleState, now: Date = Date()) -> [WireSchedule] {
        schedules.map { schedule in
            let entry = state.schedules[schedule.name]
            return WireSchedule(
                name: schedule.name, cron: schedule.cron, timeZone: schedule.timeZone ?? "UTC",
                nextRun: state.nextRun(of: schedule, now: now), lastRun: entry?.lastRun, lastSkipped: entry?.lastSkipped)
        }
    }
}

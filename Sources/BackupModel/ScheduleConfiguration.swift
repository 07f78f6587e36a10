import Foundation

/// One schedule of `gwbackup serve`, from its configuration file (`"schedules": [...]`): a backup
/// (with retention), a verification or a restore drill.
/// It names no secret: the SSH password and the security password are read from `credentialsFile`.
public struct ScheduleConfiguration: Codable, Sendable, Equatable {
    /// A short name (letters, digits, `-`, `_`; at most 64): shown by `gwbackup schedules`, used as
    /// the metrics' `schedule` label and in the backups' `run_id` (`schedule:NAME`).
    public var name: String
    /// A five-field cron expression (see `CronExpression`).
    public var cron: String
    /// The IANA time zone the expression is read in (`Europe/Paris`); default `UTC`.
    public var timeZone: String?
    /// Where the backups go.
    public var destination: Destination
    /// A JSON file, owned by the server's user and readable by it alone:
    /// `{"security_pwd": "…", "password": "…"}` (`password`: the SSH password of a remote destination).
    public var credentialsFile: String
    /// Applied after each successful scheduled backup; none: nothing is deleted.
    public var retention: RetentionPolicy?
    /// A run waits a random 0…N seconds after its time (spreads many appliances' load); at most a day.
    public var randomDelaySeconds: Int?
    /// What the schedule runs: `backup` (the default), `verify` (see `verify`) or `drill` (a restore
    /// drill of the newest backup, `RestoreDrill`).
    public var job: Job?
    /// For `job: verify`: which backups, and how deeply.
    public var verify: VerifyOptions?

    /// What a schedule runs.
    public enum Job: String, Codable, Sendable, CaseIterable {
        case backup, verify, drill
    }

    /// A scheduled verification: the newest backup of this appliance and `older` others chosen at
    /// random among its older authenticated backups (so that, night after night, every backup is read
    /// now and then); with `readData` (the default) every component is decrypted and its archive read,
    /// without it the component files are checked against the authenticated index's SHA-256.
    public struct VerifyOptions: Codable, Sendable, Equatable {
        public var older: Int?
        public var readData: Bool?

        public init(older: Int? = nil, readData: Bool? = nil) {
            self.older = older
            self.readData = readData
        }
    }

    /// The job, `backup` when the configuration names none.
    public var runs: Job { self.job ?? .backup }

    /// A schedule's destination, with the API's field names.
    public struct Destination: Codable, Sendable, Equatable {
        public var hostname: String
        public var username: String?
        public var path: String?
        public var port: Int?

        public init(hostname: String, username: String? = nil, path: String? = nil, port: Int? = nil) {
            self.hostname = hostname
            self.username = username
            self.path = path
            self.port = port
        }
    }

    public init(name: String, cron: String, timeZone: String? = nil, destination: Destination, credentialsFile: String, retention: RetentionPolicy? = nil, randomDelaySeconds: Int? = nil) {
        self.name = name
        self.cron = cron
        self.timeZone = timeZone
        self.destination = destination
        self.credentialsFile = credentialsFile
        self.retention = retention
        self.randomDelaySeconds = randomDelaySeconds
    }

    enum CodingKeys: String, CodingKey, CaseIterable {
        case name, cron, timeZone, destination, credentialsFile, retention, randomDelaySeconds, job, verify
    }

    /// Any key this type does not know: a typo would otherwise be ignored, and a password written
    /// into the configuration would sit there unnoticed.
    struct AnyKey: CodingKey {
        package var stringValue: String
        package var intValue: Int? { nil }
        package init(stringValue: String) { self.stringValue = stringValue }
        package init?(intValue: Int) { nil }
    }

    public init(from decoder: any Decoder) throws {
        let keys = try decoder.container(keyedBy: AnyKey.self).allKeys.map(\.stringValue)
        for key in keys where CodingKeys(stringValue: key) == nil {
            let secret = ["password", "security_pwd", "securityPassword", "secret"].contains(key)
            throw BackupError(.invalidInput, secret
                ? "a schedule must not hold '\(SafeText.escaped(key))': secrets go in its credentialsFile (JSON, mode 0600)"
                : "a schedule has an unknown field '\(SafeText.escaped(key))' (known: \(CodingKeys.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decode(String.self, forKey: .name)
        self.cron = try container.decode(String.self, forKey: .cron)
        self.timeZone = try container.decodeIfPresent(String.self, forKey: .timeZone)
        self.destination = try container.decode(Destination.self, forKey: .destination)
        self.credentialsFile = try container.decode(String.self, forKey: .credentialsFile)
        self.retention = try container.decodeIfPresent(RetentionPolicy.self, forKey: .retention)
        self.randomDelaySeconds = try container.decodeIfPresent(Int.self, forKey: .randomDelaySeconds)
        if let job = try container.decodeIfPresent(String.self, forKey: .job) {
            guard let known = Job(rawValue: job) else {
                throw BackupError(.invalidInput, "schedule '\(SafeText.escaped(self.name))': job '\(SafeText.escaped(job, limit: 40))' is not one of \(Job.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            self.job = known
        }
        self.verify = try container.decodeIfPresent(VerifyOptions.self, forKey: .verify)
    }

    /// The first planned time after `date` and the gap to the one after it; nil when the schedule is
    /// invalid or names no further time.
    public func upcoming(after date: Date) -> (next: Date, interval: TimeInterval?)? {
        guard let expression = try? self.expression(), let zone = try? self.zone(), let next = expression.nextRun(after: date, in: zone) else { return nil }
        return (next, expression.nextRun(after: next, in: zone).map { $0.timeIntervalSince(next) })
    }

    /// The last planned time at or before `date` (when the schedule was last due), or nil when it
    /// names none in the eight years before. Looked for in growing windows (two minutes, an hour, a day, a week,
    /// a month, a year, eight years), so a frequent schedule costs a few steps and a rare one a few
    /// more.
    public func previous(atOrBefore date: Date) -> Date? {
        guard let expression = try? self.expression(), let zone = try? self.zone() else { return nil }
        let windows: [TimeInterval] = [120, 3_600, 86_400, 8 * 86_400, 32 * 86_400, 367 * 86_400, 8 * 367 * 86_400]
        for window in windows {
            var last: Date?
            var cursor = date.addingTimeInterval(-window)
            while let next = expression.nextRun(after: cursor, in: zone), next <= date {
                last = next
                cursor = next
            }
            if let last { return last }
        }
        return nil
    }

    /// The parsed expression.
    public func expression() throws -> CronExpression { try CronExpression(self.cron) }

    /// The time zone; an unknown name is an error (never silently UTC).
    public func zone() throws -> TimeZone {
        let name = self.timeZone ?? "UTC"
        guard let zone = TimeZone(identifier: name) else {
            throw BackupError(.invalidInput, "schedule '\(SafeText.escaped(self.name))': '\(SafeText.escaped(name))' is not an IANA time zone (such as Europe/Paris or UTC)")
        }
        return zone
    }

    /// Checks everything that can be checked without the credentials file.
    public func validate() throws {
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_"))
        guard !self.name.isEmpty, self.name.utf8.count <= 64, self.name.unicodeScalars.allSatisfy({ $0.isASCII && allowed.contains($0) }) else {
            throw BackupError(.invalidInput, "schedule name '\(SafeText.escaped(self.name))' must be 1-64 letters, digits, '-' or '_'")
        }
        do { _ = try self.expression() } catch let error as BackupError {
            throw BackupError(.invalidInput, "schedule '\(self.name)': \(error.message)")
        }
        _ = try self.zone()
        if let retention {
            do { try retention.validate() } catch let error as BackupError {
                throw BackupError(.invalidInput, "schedule '\(self.name)': retention: \(error.message)")
            }
        }
        if self.retention != nil && self.runs != .backup {
            throw BackupError(.invalidInput, "schedule '\(self.name)': retention applies after a backup; a \(self.runs.rawValue) schedule deletes nothing")
        }
        if self.verify != nil && self.runs != .verify {
            throw BackupError(.invalidInput, "schedule '\(self.name)': verify options need \"job\": \"verify\"")
        }
        if let older = self.verify?.older, !(0...100).contains(older) {
            throw BackupError(.invalidInput, "schedule '\(self.name)': verify.older must be 0-100")
        }
        if let delay = self.randomDelaySeconds, !(0...86400).contains(delay) {
            throw BackupError(.invalidInput, "schedule '\(self.name)': randomDelaySeconds must be 0-86400")
        }
        guard !self.destination.hostname.isEmpty else { throw BackupError(.invalidInput, "schedule '\(self.name)': destination.hostname is required") }
        if !StorageTarget.isLocalHost(self.destination.hostname) {
            guard !(self.destination.username ?? "").isEmpty, !(self.destination.path ?? "").isEmpty else {
                throw BackupError(.invalidInput, "schedule '\(self.name)': a remote destination needs username and path")
            }
        }
        if let port = self.destination.port, !(1...65535).contains(port) {
            throw BackupError(.invalidInput, "schedule '\(self.name)': destination.port must be 1-65535")
        }
        guard self.credentialsFile.hasPrefix("/") else {
            throw BackupError(.invalidInput, "schedule '\(self.name)': credentialsFile must be an absolute path")
        }
    }

    /// Checks a set of schedules: each valid, names unique.
    public static func validate(_ schedules: [ScheduleConfiguration]) throws {
        var seen = Set<String>()
        for schedule in schedules {
            try schedule.validate()
            guard seen.insert(schedule.name).inserted else {
                throw BackupError(.invalidInput, "two schedules are named '\(schedule.name)'")
            }
        }
    }
}

import BackupModel
import Foundation
import Testing

@Suite("Cron expressions and time zones")
struct CronExpressionTests {
    static let utc = TimeZone(identifier: "UTC")!
    static let paris = TimeZone(identifier: "Europe/Paris")!

    /// Epoch seconds of a wall-clock time in a zone.
    static func at(_ text: String, _ zone: TimeZone = utc) -> Date {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm"
        return formatter.date(from: text)!
    }

    static func local(_ date: Date?, _ zone: TimeZone) -> String {
        guard let date else { return "never" }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = zone
        formatter.dateFormat = "yyyy-MM-dd HH:mm EEE"
        return formatter.string(from: date)
    }

    /// The next `count` runs after `start`, as local times.
    static func runs(_ cron: String, after start: String, count: Int = 3, zone: TimeZone = utc) throws -> [String] {
        let expression = try CronExpression(cron)
        var date = Self.at(start, zone)
        var result: [String] = []
        for _ in 0..<count {
            guard let next = expression.nextRun(after: date, in: zone) else { result.append("never"); break }
            result.append(Self.local(next, zone))
            date = next
        }
        return result
    }

    @Test func fieldsListsRangesStepsAndNames() throws {
        #expect(try Self.runs("15 2 * * *", after: "2026-11-29 02:15") == ["2026-11-30 02:15 Mon", "2026-12-01 02:15 Tue", "2026-12-02 02:15 Wed"])
        #expect(try Self.runs("*/20 9-10 * * *", after: "2026-11-29 09:00", count: 4) == ["2026-11-29 09:20 Sun", "2026-11-29 09:40 Sun", "2026-11-29 10:00 Sun", "2026-11-29 10:20 Sun"])
        #expect(try Self.runs("0 3 * * mon-fri", after: "2026-11-27 12:00") == ["2026-11-30 03:00 Mon", "2026-12-01 03:00 Tue", "2026-12-02 03:00 Wed"])
        #expect(try Self.runs("0 0 1 jan,jul *", after: "2026-11-29 00:00") == ["2027-01-01 00:00 Fri", "2027-07-01 00:00 Thu", "2028-01-01 00:00 Sat"])
        #expect(try Self.runs("0 4 * * 7", after: "2026-11-29 05:00", count: 1) == ["2026-12-06 04:00 Sun"], "7 is Sunday too")
        #expect(try Self.runs("@daily", after: "2026-11-29 00:00", count: 1) == ["2026-11-30 00:00 Mon"])
        #expect(try Self.runs("@weekly", after: "2026-11-29 00:00", count: 1) == ["2026-12-06 00:00 Sun"])
        // Both day fields restricted: either matches (cron's rule): the 13th, and every Friday.
        #expect(try Self.runs("0 0 13 * fri", after: "2026-11-01 00:00", count: 4) == ["2026-11-06 00:00 Fri", "2026-11-13 00:00 Fri", "2026-11-20 00:00 Fri", "2026-11-27 00:00 Fri"])
        #expect(try Self.runs("0 0 13 * 1", after: "2026-11-01 00:00", count: 3) == ["2026-11-02 00:00 Mon", "2026-11-09 00:00 Mon", "2026-11-13 00:00 Fri"])
        #expect(try Self.runs("0 12 29 2 *", after: "2026-03-01 00:00", count: 1) == ["2028-02-29 12:00 Tue"])
        #expect(try Self.runs("0 0 31 2 *", after: "2026-03-01 00:00", count: 1) == ["never"])
    }

    @Test func aTimeZoneIsHonouredAcrossDaylightSavingChanges() throws {
        // Paris: 02:30 local; on 2027-03-28 the clock jumps from 02:00 to 03:00, so 02:30 does not
        // exist: that night's run is at 03:00, the first minute after the gap (issue 24: a nightly
        // backup lost once a year to the change).
        #expect(try Self.runs("30 2 * * *", after: "2027-03-26 12:00", count: 4, zone: Self.paris) == ["2027-03-27 02:30 Sat", "2027-03-28 03:00 Sun", "2027-03-29 02:30 Mon", "2027-03-30 02:30 Tue"])
        // Several times in the gap, and one right after it: 03:00 runs once.
        #expect(try Self.runs("0,15,45 2-3 * * *", after: "2027-03-28 01:50", count: 4, zone: Self.paris) == ["2027-03-28 03:00 Sun", "2027-03-28 03:15 Sun", "2027-03-28 03:45 Sun", "2027-03-29 02:00 Mon"])
        // The README's 02:15 on a weekdays-only schedule: the change falls on a Sunday, nothing runs.
        #expect(try Self.runs("15 2 * * 1-5", after: "2027-03-26 12:00", count: 1, zone: Self.paris) == ["2027-03-29 02:15 Mon"])
        // On 2026-10-25 02:30 happens twice (03:00 goes back to 02:00): one run.
        let expression = try CronExpression("30 2 * * *")
        let first = try #require(expression.nextRun(after: Self.at("2026-10-24 12:00", Self.paris), in: Self.paris))
        let second = try #require(expression.nextRun(after: first, in: Self.paris))
        #expect(Self.local(first, Self.paris) == "2026-10-25 02:30 Sun")
        #expect(Self.local(second, Self.paris) == "2026-10-26 02:30 Mon")
        // The same expression in UTC and in Paris names different instants.
        let utcRun = try #require(expression.nextRun(after: Self.at("2026-11-29 00:00"), in: Self.utc))
        let parisRun = try #require(expression.nextRun(after: Self.at("2026-11-29 00:00"), in: Self.paris))
        #expect(utcRun.timeIntervalSince(parisRun) == 3600)
    }

    @Test(arguments: [
        ("", "5 fields"), ("* * * *", "5 fields"), ("* * * * * *", "5 fields"), ("60 * * * *", "minute"), ("* 24 * * *", "hour"),
        ("* * 0 * *", "day of month"), ("* * * 13 *", "month"), ("* * * * 8", "day of week"), ("*/0 * * * *", "step"),
        ("5-1 * * * *", "backwards"), ("a * * * *", "not a number"), ("1,,2 * * * *", "empty"), ("-1 * * * *", "not a value"),
        ("1/2/3 * * * *", "more than one"), ("* * * foo *", "not a number or a name"), ("99999999999999999999 * * * *", "not a number"),
    ])
    func malformedExpressionsAreRefusedNamingTheField(cron: String, expected: String) {
        #expect {
            try CronExpression(cron)
        } throws: { error in
            (error as? BackupError)?.message.contains(expected) == true
        }
    }

    @Test func scheduleConfigurationsAreCheckedAtLoad() throws {
        let destination = ScheduleConfiguration.Destination(hostname: "localhost")
        let good = ScheduleConfiguration(name: "nightly", cron: "15 2 * * *", timeZone: "Europe/Paris", destination: destination, credentialsFile: "/etc/gwbackup/nightly.json")
        try good.validate()
        var bad = good
        bad.timeZone = "Mars/Olympus"
        #expect(throws: BackupError.self) { try bad.validate() }
        bad = good
        bad.name = "night ly"
        #expect(throws: BackupError.self) { try bad.validate() }
        bad = good
        bad.retention = RetentionPolicy()
        #expect(throws: BackupError.self) { try bad.validate() }
        bad = good
        bad.randomDelaySeconds = 86401
        #expect(throws: BackupError.self) { try bad.validate() }
        bad = good
        bad.destination = .init(hostname: "backup.example.net", username: "u")
        #expect(throws: BackupError.self) { try bad.validate() }
        bad = good
        bad.credentialsFile = "relative.json"
        #expect(throws: BackupError.self) { try bad.validate() }
        #expect(throws: BackupError.self) { try ScheduleConfiguration.validate([good, good]) }
    }
}

import Foundation

/// A five-field cron expression (minute, hour, day of month, month, day of week) as crontab(5)
/// reads it: `*`, numbers, ranges `a-b`, lists `a,b`, steps `*/n` and `a-b/n`, month and day names
/// (`jan`, `mon`), 0 or 7 for Sunday, and the shorthands `@hourly`, `@daily`, `@weekly`, `@monthly`,
/// `@yearly`. When both day fields are restricted a day matches either (as cron does).
public struct CronExpression: Sendable, Equatable, CustomStringConvertible {
    public let description: String
    package let minutes: Set<Int>
    package let hours: Set<Int>
    package let daysOfMonth: Set<Int>
    package let months: Set<Int>
    package let daysOfWeek: Set<Int>
    package let dayOfMonthRestricted: Bool
    package let dayOfWeekRestricted: Bool

    /// Parses `text`; every problem is an `invalidInput` error that names the field.
    public init(_ text: String) throws {
        let trimmed = text.trimmingCharacters(in: .whitespaces)
        let shorthands = ["@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"]
        let expanded = shorthands[trimmed.lowercased()] ?? trimmed
        let fields = expanded.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard fields.count == 5 else {
            throw BackupError(.invalidInput, "cron expression '\(SafeText.escaped(text))' must have 5 fields (minute hour day-of-month month day-of-week), not \(fields.count)")
        }
        let monthNames = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
        let dayNames = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"]
        self.description = trimmed
        self.minutes = try Self.field(fields[0], name: "minute", range: 0...59, names: [])
        self.hours = try Self.field(fields[1], name: "hour", range: 0...23, names: [])
        self.daysOfMonth = try Self.field(fields[2], name: "day of month", range: 1...31, names: [])
        self.months = try Self.field(fields[3], name: "month", range: 1...12, names: monthNames, nameBase: 1)
        // 7 is Sunday as well as 0.
        self.daysOfWeek = Set(try Self.field(fields[4], name: "day of week", range: 0...7, names: dayNames).map { $0 % 7 })
        self.dayOfMonthRestricted = !fields[2].hasPrefix("*")
        self.dayOfWeekRestricted = !fields[4].hasPrefix("*")
    }

    private static func field(_ text: String, name: String, range: ClosedRange<Int>, names: [String], nameBase: Int = 0) throws -> Set<Int> {
        func fail(_ why: String) -> BackupError {
            BackupError(.invalidInput, "cron \(name) field '\(SafeText.escaped(text))': \(why)")
        }
        func value(_ token: Substring) throws -> Int {
            if let number = Int(token), !token.hasPrefix("+"), !token.hasPrefix("-") {
                guard range.contains(number) else { throw fail("\(number) is outside \(range.lowerBound)-\(range.upperBound)") }
                return number
            }
            if let index = names.firstIndex(of: token.lowercased()) { return index + nameBase }
            throw fail("'\(SafeText.escaped(String(token)))' is not a number\(names.isEmpty ? "" : " or a name")")
        }
        var result = Set<Int>()
        for part in text.split(separator: ",", omittingEmptySubsequences: false) {
            guard !part.isEmpty else { throw fail("an empty list element") }
            let pieces = part.split(separator: "/", omittingEmptySubsequences: false)
            guard pieces.count <= 2 else { throw fail("more than one '/'") }
            var step = 1
            if pieces.count == 2 {
                guard let number = Int(pieces[1]), number >= 1, number <= range.upperBound + 1 else { throw fail("the step must be a number from 1 to \(range.upperBound + 1)") }
                step = number
            }
            let lower: Int
            let upper: Int
            if pieces[0] == "*" {
                (lower, upper) = (range.lowerBound, range.upperBound)
            } else {
                let bounds = pieces[0].split(separator: "-", omittingEmptySubsequences: false)
                guard bounds.count <= 2, !bounds.contains(where: \.isEmpty) else { throw fail("'\(SafeText.escaped(String(pieces[0])))' is not a value or a range") }
                lower = try value(bounds[0])
                upper = bounds.count == 2 ? try value(bounds[1]) : (pieces.count == 2 ? range.upperBound : lower)
                guard lower <= upper else { throw fail("the range \(lower)-\(upper) runs backwards") }
            }
            result.formUnion(stride(from: lower, through: upper, by: step))
        }
        return result
    }

    /// Whether a day (in the schedule's calendar) is one the expression runs on.
    package func matchesDay(dayOfMonth: Int, month: Int, weekday: Int) -> Bool {
        guard self.months.contains(month) else { return false }
        let byMonthDay = self.daysOfMonth.contains(dayOfMonth)
        let byWeekday = self.daysOfWeek.contains(weekday)
        if self.dayOfMonthRestricted && self.dayOfWeekRestricted { return byMonthDay || byWeekday }
        if self.dayOfMonthRestricted { return byMonthDay }
        if self.dayOfWeekRestricted { return byWeekday }
        return true
    }

    /// The first time strictly after `date` that the expression names, in `timeZone`; nil when there
    /// is none within eight years (`0 0 31 2 *`). A local time that the time zone skips (the hour a
    /// clock springs forward) runs at the first minute after the gap, once however many of its times
    /// fell in it (as cronie and systemd timers do: a nightly run is never lost to the change); a
    /// local time that occurs twice (the hour a clock falls back) runs once, at its first occurrence.
    public func nextRun(after date: Date, in timeZone: TimeZone) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = timeZone
        let sortedHours = self.hours.sorted()
        let sortedMinutes = self.minutes.sorted()
        guard var day = calendar.dateInterval(of: .day, for: date)?.start else { return nil }
        for _ in 0..<(366 * 8 + 2) {
            let parts = calendar.dateComponents([.year, .month, .day, .weekday], from: day)
            if let month = parts.month, let dayOfMonth = parts.day, let weekday = parts.weekday,
                self.matchesDay(dayOfMonth: dayOfMonth, month: month, weekday: weekday - 1)
            {
                for hour in sortedHours {
                    for minute in sortedMinutes {
                        var wanted = DateComponents()
                        (wanted.year, wanted.month, wanted.day, wanted.hour, wanted.minute, wanted.second) = (parts.year, month, dayOfMonth, hour, minute, 0)
                        guard let candidate = calendar.date(from: wanted), candidate > date else { continue }
                        // A skipped local time comes back as another hour: it does not exist that day.
                        // It runs when the gap ends (the transition), if that is still to come.
                        let check = calendar.dateComponents([.day, .hour, .minute], from: candidate)
                        guard check.day == dayOfMonth, check.hour == hour, check.minute == minute else {
                            if let gapEnd = timeZone.nextDaylightSavingTimeTransition(after: day), gapEnd > date,
                               calendar.isDate(gapEnd, inSameDayAs: day) {
                                return gapEnd
                            }
                            continue
                        }
                        return candidate
                    }
                }
            }
            guard let next = calendar.date(byAdding: .day, value: 1, to: day) else { return nil }
            day = next
        }
        return nil
    }
}

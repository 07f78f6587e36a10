/// How many backups to keep: the newest `keepLast`, and the newest of each of the last `keepDaily`
/// days, `keepWeekly` ISO weeks and `keepMonthly` months that have a backup (UTC), as restic's
/// `forget` counts them. The newest complete backup is kept whatever the policy says.
public struct RetentionPolicy: Sendable, Equatable, Codable {
    public var keepLast: Int?
    public var keepDaily: Int?
    public var keepWeekly: Int?
    public var keepMonthly: Int?

    public init(keepLast: Int? = nil, keepDaily: Int? = nil, keepWeekly: Int? = nil, keepMonthly: Int? = nil) {
        self.keepLast = keepLast
        self.keepDaily = keepDaily
        self.keepWeekly = keepWeekly
        self.keepMonthly = keepMonthly
    }

    /// True when no rule is set: such a policy is refused rather than taken to mean "keep one".
    public var isEmpty: Bool { [self.keepLast, self.keepDaily, self.keepWeekly, self.keepMonthly].allSatisfy { ($0 ?? 0) == 0 } }

    /// Throws for an empty policy or a negative count.
    public func validate() throws {
        for (name, value) in [("keep-last", self.keepLast), ("keep-daily", self.keepDaily), ("keep-weekly", self.keepWeekly), ("keep-monthly", self.keepMonthly)] {
            if let value, value < 0 || value > 100_000 { throw BackupError(.invalidInput, "--\(name) must be between 0 and 100000") }
        }
        if self.isEmpty {
            throw BackupError(.invalidInput, "a retention policy needs at least one of --keep-last, --keep-daily, --keep-weekly, --keep-monthly above 0")
        }
    }
}

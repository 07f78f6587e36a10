import Foundation

/// The retention decision: which complete backups a policy keeps and why. Pure: it sees only names
/// and creation times, so it is tested over random lists, and what it decides is what `prune` does.
public enum Retention {
    /// A complete backup as retention sees it.
    public struct Candidate: Sendable, Equatable {
        public var name: String
        /// When it was taken, epoch seconds.
        public var created: Int64

        public init(name: String, created: Int64) {
            self.name = name
            self.created = created
        }
    }

    /// What happens to one backup, and why.
    public struct Decision: Sendable, Equatable, Codable {
        public var name: String
        public var keep: Bool
        /// `last 2`, `daily 2026-11-29`, `weekly 2026-W48`, `monthly 2026-11`, `newest complete
        /// backup`, or `beyond the policy`.
        public var reasons: [String]
    }

    /// Decides for every candidate, newest first. The newest one is always kept.
    public static func decide(_ candidates: [Candidate], policy: RetentionPolicy) -> [Decision] {
        let sorted = candidates.sorted { ($0.created, $0.name) > ($1.created, $1.name) }
        var reasons: [[String]] = Array(repeating: [], count: sorted.count)
        if !sorted.isEmpty { reasons[0].append("newest complete backup") }
        if let count = policy.keepLast, count > 0 {
            for index in sorted.indices.prefix(count) { reasons[index].append("last \(count)") }
        }
        var calendar = Calendar(identifier: .iso8601)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? calendar.timeZone
        let buckets: [(String, Int?, (Date) -> String)] = [
            ("daily", policy.keepDaily, { date in
                let parts = calendar.dateComponents([.year, .month, .day], from: date)
                return String(format: "%04d-%02d-%02d", parts.year ?? 0, parts.month ?? 0, parts.day ?? 0)
            }),
            ("weekly", policy.keepWeekly, { date in
                let parts = calendar.dateComponents([.yearForWeekOfYear, .weekOfYear], from: date)
                return String(format: "%04d-W%02d", parts.yearForWeekOfYear ?? 0, parts.weekOfYear ?? 0)
            }),
            ("monthly", policy.keepMonthly, { date in
                let parts = calendar.dateComponents([.year, .month], from: date)
                return String(format: "%04d-%02d", parts.year ?? 0, parts.month ?? 0)
            }),
        ]
        for (label, count, key) in buckets {
            guard let count, count > 0 else { continue }
            var seen: Set<String> = []
            for (index, candidate) in sorted.enumerated() where seen.count < count {
                let bucket = key(Date(timeIntervalSince1970: TimeInterval(candidate.created)))
                // The newest backup of each period stands for it.
                if seen.insert(bucket).inserted { reasons[index].append("\(label) \(bucket)") }
            }
        }
        return sorted.enumerated().map { index, candidate in
            Decision(name: candidate.name, keep: !reasons[index].isEmpty, reasons: reasons[index].isEmpty ? ["beyond the policy"] : reasons[index])
        }
    }
}

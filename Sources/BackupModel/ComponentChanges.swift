/// What changes between two states of one component, path by path: the current appliance and a
/// backup (a restore's preview), or two backups (`gwbackup diff`).
///
/// Content, kind, permission bits, owner and link targets count; modification times do not (a
/// restore sets them from the backup, which no operator calls a change).
public struct ComponentChanges: Codable, Sendable, Equatable {
    public var unchanged: Int
    public var updated: Int
    public var added: Int
    public var removed: Int
    /// The changed paths, sorted, at most `TreeComparison.listLimit`; `truncated` when there were more.
    public var files: [FileChange]
    public var truncated: Bool
    /// The plugin's counts that differ (rows per table for sqlite-config), when its verify reports
    /// counts for both states; nil when it reports none.
    public var counts: [CountChange]?

    public init(unchanged: Int = 0, updated: Int = 0, added: Int = 0, removed: Int = 0, files: [FileChange] = [], truncated: Bool = false, counts: [CountChange]? = nil) {
        self.unchanged = unchanged
        self.updated = updated
        self.added = added
        self.removed = removed
        self.files = files
        self.truncated = truncated
        self.counts = counts
    }

    /// True when nothing differs.
    public var isEmpty: Bool { self.updated == 0 && self.added == 0 && self.removed == 0 }

    /// `3 updated, 1 added, 0 removed, 12 unchanged`, then the changed counts
    /// (`; rows in table accounts 3 -> 5`).
    public var summary: String {
        let files = "\(self.updated) updated, \(self.added) added, \(self.removed) removed, \(self.unchanged) unchanged"
        guard let counts = self.counts, !counts.isEmpty else { return files }
        let shown = counts.prefix(10).map(\.summary) + (counts.count > 10 ? ["\(counts.count - 10) more counts"] : [])
        return ([files] + shown).joined(separator: "; ")
    }

    /// Adds the plugin's counts of both states: those that differ, or nil when neither reports any.
    public mutating func compareCounts(from before: [String: Int64], to after: [String: Int64]) {
        self.counts = before.isEmpty && after.isEmpty ? nil : CountChange.changes(from: before, to: after)
    }
}

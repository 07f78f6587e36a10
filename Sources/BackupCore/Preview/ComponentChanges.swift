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

    public init(unchanged: Int = 0, updated: Int = 0, added: Int = 0, removed: Int = 0, files: [FileChange] = [], truncated: Bool = false) {
        self.unchanged = unchanged
        self.updated = updated
        self.added = added
        self.removed = removed
        self.files = files
        self.truncated = truncated
    }

    /// True when nothing differs.
    public var isEmpty: Bool { self.updated == 0 && self.added == 0 && self.removed == 0 }

    /// `3 updated, 1 added, 0 removed, 12 unchanged`.
    public var summary: String {
        "\(self.updated) updated, \(self.added) added, \(self.removed) removed, \(self.unchanged) unchanged"
    }
}

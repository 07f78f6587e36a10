/// An entry under the backup path, and whether it is a backup.
public struct StoredEntry: Sendable, Equatable {
    /// What the entry is.
    public enum Kind: String, Sendable, Equatable {
        /// A committed backup: a directory with `manifest.json`.
        case complete
        /// A backup still being written, or left by an interrupted one.
        case temporary
        /// A directory without `manifest.json`.
        case incomplete
        /// A file or anything else that is not a backup.
        case foreign
    }

    public var name: String
    public var kind: Kind
    /// Last modification, epoch seconds, when the store says (retention removes old leftovers).
    public var modified: Int64?

    public init(name: String, kind: Kind, modified: Int64? = nil) {
        self.name = name
        self.kind = kind
        self.modified = modified
    }

    /// The prefix under which stores write backups that are not committed yet.
    public static let temporaryPrefix = ".partial-"
    /// The prefix a backup being deleted is renamed to first (deletion is a rename out of sight,
    /// then removal).
    public static let deletingPrefix = ".deleting-"

    /// The kind a name alone decides: names starting with `.` are never backups.
    public static func hiddenKind(of name: String) -> Kind? {
        guard name.hasPrefix(".") else { return nil }
        return name.hasPrefix(Self.temporaryPrefix) || name.hasPrefix(Self.deletingPrefix) ? .temporary : .foreign
    }
}

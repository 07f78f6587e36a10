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

    public init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    /// The prefix under which stores write backups that are not committed yet.
    public static let temporaryPrefix = ".partial-"
}

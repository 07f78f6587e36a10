/// One path that differs between two states of a component (`TreeComparison`).
public struct FileChange: Codable, Sendable, Equatable {
    /// How the path differs, seen from the first state towards the second.
    public enum Kind: String, Codable, Sendable {
        /// Only in the second state: a restore creates it.
        case added
        /// Only in the first state: a restore removes it.
        case removed
        /// In both, different: `details` says how.
        case updated
    }

    /// The path relative to the component's staged tree (for files and certificates: to the
    /// appliance root). Escaped: it comes from a backup or a plugin.
    public var path: String
    public var change: Kind
    /// For `updated`: `content`, `kind file -> symlink`, `mode 644 -> 600`, `owner 0:0 -> 1000:1000`,
    /// `target`.
    public var details: [String]

    public init(path: String, change: Kind, details: [String] = []) {
        self.path = path
        self.change = change
        self.details = details
    }
}

import BackupModel
import BackupPOSIX

/// Where a plugin comes from.
public enum PluginOrigin: Sendable, Equatable, CustomStringConvertible {
    /// Compiled into the binary.
    case builtIn
    /// An external plugin described by `plugin.json` in this directory.
    case external(directory: String)

    public var description: String {
        switch self {
        case .builtIn: "built-in"
        case .external(let directory): directory
        }
    }

    /// `built-in` or `external`.
    public var kindName: String {
        switch self {
        case .builtIn: "built-in"
        case .external: "external"
        }
    }
}

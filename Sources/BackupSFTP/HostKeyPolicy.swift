import BackupCore
import BackupModel
import BackupPOSIX

/// Which SSH host keys to trust.
public enum HostKeyPolicy: Sendable, Equatable {
    /// Trust and record a host's key the first time; refuse a changed one (the default).
    case acceptNew
    /// Trust only keys already recorded.
    case strict
    /// Trust only this key (`SHA256:…`, as `ssh-keygen -lf` prints it).
    case fingerprint(String)

    /// Parses `accept-new`, `strict` or `fingerprint:SHA256:…`.
    public init(parsing text: String) throws {
        switch text {
        case "accept-new", "": self = .acceptNew
        case "strict": self = .strict
        default:
            guard text.hasPrefix("fingerprint:SHA256:"), text.count > "fingerprint:SHA256:".count else {
                throw BackupError(.invalidInput, "unknown host key policy '\(text)' (use accept-new, strict or fingerprint:SHA256:…)")
            }
            self = .fingerprint(String(text.dropFirst("fingerprint:".count)))
        }
    }
}

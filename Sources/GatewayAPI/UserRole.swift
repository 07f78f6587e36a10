import BackupCore
import BackupModel
import BackupPOSIX

/// What an API user may do (issue 24; as Vault's policies and Velero's roles, kept to three):
///
/// - `viewer`: read the job status (`GET …/backup`, `GET …/restore`) and `/metrics`: a Prometheus
///   scrape user, a dashboard.
/// - `operator`: also start backups and restores, to the destinations the server's configuration
///   lists in `operatorDestinations`, and nowhere else (a stolen operator password cannot send the
///   cloak key to a host of the thief's choice).
/// - `admin`: start jobs to any destination (local paths still within `localBackupDirectories`).
///
/// A user the users file names without a role (made before roles existed) is an admin, as before;
/// the server says so once, at start-up.
public enum UserRole: String, Codable, CaseIterable, Sendable {
    case viewer
    case `operator`
    case admin

    /// Whether this role may start jobs at all.
    public var startsJobs: Bool { self != .viewer }

    /// Parses a role name, or says which names there are.
    public static func named(_ text: String) throws -> UserRole {
        guard let role = UserRole(rawValue: text.lowercased()) else {
            throw BackupError(.invalidInput, "'\(SafeText.escaped(text, limit: 40))' is not a role (roles: \(Self.allCases.map(\.rawValue).joined(separator: ", ")))")
        }
        return role
    }
}

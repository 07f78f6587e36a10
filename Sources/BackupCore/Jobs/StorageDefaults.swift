import BackupModel
import BackupPOSIX

/// What a job's destination means when parts of it are left out, in one place: for `localhost` the
/// user reported is `mazu` and the backups go to `/mnt/data/flowgateway-backup` (as the API document
/// says); a server's configuration may set others. The CLI, the API and the schedules resolve their
/// targets here.
public struct StorageDefaults: Sendable, Equatable {
    /// The user reported for local storage.
    public var user: String
    /// The local backup directory.
    public var backupDirectory: String

    /// The API document's defaults.
    public static let standard = StorageDefaults(user: "mazu", backupDirectory: "/mnt/data/flowgateway-backup")

    public init(user: String, backupDirectory: String) {
        self.user = user
        self.backupDirectory = backupDirectory
    }

    /// The target a request names: empty or missing parts of a local one take the defaults; a remote
    /// one is taken as given (its user and path are required, and checked where it is parsed).
    public func target(host: String, username: String?, path: String?, port: Int?) -> StorageTarget {
        let local = StorageTarget.isLocalHost(host)
        let user = username.flatMap { $0.isEmpty ? nil : $0 } ?? (local ? self.user : "")
        let path = path.flatMap { $0.isEmpty ? nil : $0 } ?? (local ? self.backupDirectory : "")
        return StorageTarget(host: host, username: user, path: path, port: port)
    }
}

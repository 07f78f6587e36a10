import BackupModel
import BackupPOSIX
import Foundation

/// `STATE/backup-in-progress.json`: which destination a running backup writes its `.partial-`
/// directory to. A backup killed outright cannot remove it; the next backup to the same destination
/// does (and only that directory: other appliances may share the destination).
struct PendingBackup: Codable, Equatable {
    static let fileName = "backup-in-progress.json"

    /// The store's display name (`local /path`, `sftp user@host:port:path`).
    var store: String
    /// The backup's name; its temporary directory is `.partial-<name>`.
    var name: String

    static func path(in stateDirectory: String) -> String { stateDirectory + "/" + fileName }

    func write(to stateDirectory: String) throws {
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(self), to: Self.path(in: stateDirectory))
    }

    static func read(in stateDirectory: String) -> PendingBackup? {
        guard let data = try? FileTree.readFile(Self.path(in: stateDirectory), limit: 64 << 10) else { return nil }
        return try? JSONDecoder().decode(PendingBackup.self, from: data)
    }

    static func clear(in stateDirectory: String) {
        try? FileTree.remove(Self.path(in: stateDirectory))
    }
}

import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// The restore journal, `STATE/restore-journal.json`: written (file and directory fsynced) before a
/// restore changes the first file on the appliance, it names every component to apply, the manifest
/// entry that restores it and where its pre-restore copy is. Each component is marked applied once
/// its files are durable; the journal is removed after the last one, or after a rollback. A journal
/// found by the next job (or `gwbackup serve` at start) means a restore died midway: every component
/// it names is rolled back from its copy (idempotent, so a crash during that is finished the same
/// way). The pre-restore copies live exactly as long as the journal. See `docs/reliability.md`.
public struct RestoreJournal: Codable, Sendable, Equatable {
    /// One component of the restore.
    public struct Entry: Codable, Sendable, Equatable {
        /// The component as the appliance's manifest describes it (plugin, parameters).
        public var component: ManifestComponent
        /// The pre-restore copy (a directory in the restore's staging area).
        public var rollback: String
        /// True once the component's restored files are durable.
        public var applied: Bool
    }

    public static let fileName = "restore-journal.json"

    public var version = 1
    /// The restore's job id and the backup it restored.
    public var jobID: String
    public var backup: String
    /// The restore's staging area, removed when the journal closes.
    public var staging: String
    public var entries: [Entry]

    /// The journal's path in `stateDirectory`.
    public static func path(in stateDirectory: String) -> String {
        stateDirectory + "/" + fileName
    }

    /// Writes the journal durably (temporary file, fsync, rename, directory fsync).
    public func write(to stateDirectory: String) throws {
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(self), to: Self.path(in: stateDirectory))
    }

    /// The open journal in `stateDirectory`, or nil when no restore was interrupted.
    public static func open(in stateDirectory: String) throws -> RestoreJournal? {
        let path = Self.path(in: stateDirectory)
        guard try FileStatus.of(path) != nil else { return nil }
        do {
            return try JSONDecoder().decode(RestoreJournal.self, from: try FileTree.readFile(path, limit: 16 << 20))
        } catch {
            throw BackupError(.corrupted, "the restore journal \(path) is unreadable (\(JSONCoding.describe(error))); the restore it describes cannot be rolled back automatically: its pre-restore copies are in \(stateDirectory)/staging")
        }
    }

    /// Closes the journal: removes it and makes the removal durable.
    public static func close(in stateDirectory: String) throws {
        let path = Self.path(in: stateDirectory)
        guard try FileStatus.of(path) != nil else { return }
        try SystemCall.retrying("unlink", path) { unlink(path) }
        try FileTree.syncDirectory(stateDirectory)
    }
}

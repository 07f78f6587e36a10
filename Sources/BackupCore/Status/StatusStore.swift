import BackupModel
import BackupPOSIX
import Foundation

/// Keeps the backup and restore status in the state directory, written atomically so that a crash
/// leaves the previous or the next version, never a torn one.
public struct StatusStore: Sendable {
    /// The state directory (status files, job lock, staging, known hosts).
    public let directory: String

    public init(directory: String) {
        self.directory = directory
    }

    private var backupPath: String { self.directory + "/backup-status.json" }
    private var restorePath: String { self.directory + "/restore-status.json" }
    private var statisticsPath: String { self.directory + "/job-statistics.json" }
    private var previewPath: String { self.directory + "/restore-preview.json" }
    private var rekeyPath: String { self.directory + "/rekey-status.json" }

    /// The files the status answers are made of (backup and restore status, schedule state): a reader
    /// that keeps what it derived from them watches these, and `StateGeneration` for this process's
    /// writes.
    public var statusFiles: [String] {
        [self.backupPath, self.restorePath, ScheduleState.path(in: self.directory)]
    }

    /// Creates the state directory (0700) if needed.
    public func prepare() throws {
        try FileTree.makeDirectories(self.directory, mode: 0o700)
    }

    /// The backup status; the empty status before the first backup.
    public func backupStatus() throws -> BackupStatus {
        try self.load(BackupStatus.self, from: self.backupPath) ?? BackupStatus()
    }

    /// The restore status; `NONE` before the first restore.
    public func restoreStatus() throws -> JobRecord {
        try self.load(JobRecord.self, from: self.restorePath) ?? .none
    }

    /// Saves the backup status; a final record is also counted in the job statistics.
    public func save(_ status: BackupStatus) throws {
        try self.prepare()
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(status), to: self.backupPath)
        StateGeneration.advance(in: self.directory)
        self.count(status.running, job: .backup)
    }

    /// Saves the restore status; a final record is also counted in the job statistics.
    public func saveRestore(_ record: JobRecord) throws {
        try self.prepare()
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(record), to: self.restorePath)
        StateGeneration.advance(in: self.directory)
        self.count(record, job: .restore)
    }

    /// The latest restore preview (`restore --dry-run`, `POST …/restore/preview`); `NONE` before
    /// the first. A preview restores nothing: it is kept apart from the restore status and not counted.
    public func previewStatus() throws -> JobRecord {
        try self.load(JobRecord.self, from: self.previewPath) ?? .none
    }

    /// Saves the latest restore preview.
    public func savePreview(_ record: JobRecord) throws {
        try self.prepare()
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(record), to: self.previewPath)
    }

    /// The latest rotation; `NONE` before the first.
    public func rekeyStatus() throws -> RekeyRecord {
        try self.load(RekeyRecord.self, from: self.rekeyPath) ?? .none
    }

    /// Saves the latest rotation's record.
    public func saveRekey(_ record: RekeyRecord) throws {
        try self.prepare()
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(record), to: self.rekeyPath)
    }

    /// The statistics of past jobs (counts, durations, last successes) for metrics.
    public func statistics() throws -> JobStatistics {
        try self.load(JobStatistics.self, from: self.statisticsPath) ?? JobStatistics()
    }

    /// Records a verification that decrypted a whole backup (`ok`: every component read), for
    /// `gwbackup_last_verified_timestamp_seconds`. Monitoring only: a failure to write is ignored.
    public func recordVerification(ok: Bool, at time: Int64) {
        self.updateStatistics { $0.proofs.recordVerification(ok: ok, at: time) }
    }

    /// Records a drill's outcome (`RestoreDrill`), for `gwbackup_last_drill_*_timestamp_seconds`.
    public func recordDrill(_ outcome: JobState, at time: Int64) {
        self.updateStatistics { $0.proofs.recordDrill(ok: outcome == .completed, at: time) }
    }

    private func updateStatistics(_ change: (inout JobStatistics) -> Void) {
        guard (try? self.prepare()) != nil else { return }
        var statistics = (try? self.statistics()) ?? JobStatistics()
        change(&statistics)
        guard let data = try? JSONCoding.encoder().encode(statistics) else { return }
        try? FileTree.writeAtomically(data, to: self.statisticsPath)
        StateGeneration.advance(in: self.directory)
    }

    /// Counts a final record once. Statistics serve monitoring, not the job: a statistics file that
    /// cannot be read is started afresh, and one that cannot be written leaves the job's record as it is.
    private func count(_ record: JobRecord, job: JobStatistics.JobKindName) {
        guard record.status == .completed || record.status == .error else { return }
        var statistics = (try? self.statistics()) ?? JobStatistics()
        guard statistics.count(record, job: job), let data = try? JSONCoding.encoder().encode(statistics) else { return }
        try? FileTree.writeAtomically(data, to: self.statisticsPath)
        StateGeneration.advance(in: self.directory)
    }

    /// Marks a job left `EXECUTING` by a process that died as `ERROR` ("interrupted"). Does nothing
    /// while a live process holds the job lock. Returns true when it changed something.
    /// With `force`, marks it even though this process holds the lock: for a server shutting down
    /// with a job still running.
    @discardableResult
    public func recoverInterrupted(force: Bool = false, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Bool {
        guard try FileStatus.of(self.directory) != nil, force || !JobLock.isHeld(stateDirectory: self.directory) else { return false }
        var changed = false
        var backup = try self.backupStatus()
        if backup.running.status == .executing {
            Self.markInterrupted(&backup.running, now: now)
            try self.save(backup)
            changed = true
        }
        var restore = try self.restoreStatus()
        if restore.status == .executing {
            Self.markInterrupted(&restore, now: now)
            try self.saveRestore(restore)
            changed = true
        }
        var preview = try self.previewStatus()
        if preview.status == .executing {
            Self.markInterrupted(&preview, now: now)
            try self.savePreview(preview)
            changed = true
        }
        var rekey = try self.rekeyStatus()
        if rekey.status == .executing {
            rekey.status = .error
            rekey.finished = now
            rekey.message = "interrupted: the process running this rotation stopped before it finished; each backup opens with exactly one of the two passwords (gwbackup list shows which): run the rotation again to finish it"
            try self.saveRekey(rekey)
            changed = true
        }
        return changed
    }

    /// For a server shutting down: marks a job left `EXECUTING` as interrupted only when it is this
    /// process's own (it holds the lock) or nobody's (no one holds it); a job another process runs on
    /// the same state directory is left alone.
    @discardableResult
    public func recoverOwnInterruptedJob() throws -> Bool {
        guard JobLock.isHeld(stateDirectory: self.directory) else { return try self.recoverInterrupted() }
        guard JobLock.holderPID(stateDirectory: self.directory) == getpid() else { return false }
        return try self.recoverInterrupted(force: true)
    }

    private static func markInterrupted(_ record: inout JobRecord, now: Int64) {
        record.status = .error
        record.finished = now
        record.message = "interrupted: the process running this job stopped before it finished" + (record.message.isEmpty ? "" : " (\(record.message))")
        for index in record.components.indices where record.components[index].status == .running || record.components[index].status == .pending {
            record.components[index].status = .failed
            record.components[index].message = "interrupted"
        }
    }

    private func load<T: Decodable>(_ type: T.Type, from path: String) throws -> T? {
        guard try FileStatus.of(path) != nil else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: try FileTree.readFile(path))
        } catch {
            throw BackupError(.corrupted, "status file \(path) is unreadable: \(JSONCoding.describe(error))")
        }
    }
}

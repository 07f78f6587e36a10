import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// Runs backups, restores and verifications: plugins collect and restore, the archive format and
/// the cipher turn staged trees into encrypted streams, a store keeps them, and the status store
/// records every step.
///
/// The core knows the cipher, archive format and stores only through protocols; the executable and
/// the API wire in GPGME, tar and SFTP.
public struct Orchestrator: Sendable {
    public var registry: PluginRegistry
    public var cipher: any PayloadCipher
    public var archive: any ArchiveFormat
    /// How backups compress their archives before encryption (nil: not at all; format 1's way).
    public var compression: (any PayloadCompression)?
    /// What restore and verify can decompress, by the name the index records.
    public var decompressors: [String: any PayloadCompression] = [:]
    public var status: StatusStore
    /// The appliance root; component paths are relative to it.
    public var applianceRoot: String
    public var logger: Logger
    /// Called with progress events (from any thread).
    public var onProgress: @Sendable (JobProgress) -> Void
    /// Stops the jobs this orchestrator runs when fired (the server's shutdown, or the job deadline).
    public var cancellation = JobCancellation()
    /// The most a job may run: then it is stopped as if the server shut down (its plugin killed, a
    /// restore rolled back). A store's transfers have deadlines of their own.
    public var jobDeadlineSeconds: Double = 6 * 3600
    /// The most a new job waits for a backup or restore that has written its final record to
    /// release the lock (see `acquireJobLock`).
    public var finishingJobGraceSeconds: Double = 3
    /// The nice value of a job's work and of the processes it starts (0 = as the caller): a backup
    /// is background work, and the appliance's services and the API must stay responsive meanwhile.
    public var jobNiceness: Int32 = Orchestrator.defaultJobNiceness
    /// 10, as `nice` gives by default.
    public static let defaultJobNiceness: Int32 = 10

    public init(registry: PluginRegistry, cipher: any PayloadCipher, archive: any ArchiveFormat, status: StatusStore, applianceRoot: String, logger: Logger, onProgress: @escaping @Sendable (JobProgress) -> Void = { _ in }) {
        self.registry = registry
        self.cipher = cipher
        self.archive = archive
        self.status = status
        self.applianceRoot = applianceRoot
        self.logger = logger
        self.onProgress = onProgress
    }

    /// Where staging areas live.
    var stagingBase: String { self.status.directory + "/staging" }

    /// Validates the request, takes the job lock and records `EXECUTING`. Throws (`.busy`,
    /// `.invalidManifest`, …) without touching the status when the job cannot start.
    public func beginBackup(_ request: BackupRequest) async throws -> BackupJob {
        try self.checkStart(manifest: request.manifest, securityPassword: request.securityPassword, runID: request.runID)
        let lock = try await self.lockForJob("backup to \(request.store.displayName)")
        return BackupJob(orchestrator: self, request: request, lock: lock, id: Self.newJobID())
    }

    /// Takes the job lock and records `EXECUTING` for a restore.
    public func beginRestore(_ request: RestoreRequest) async throws -> RestoreJob {
        try self.checkStart(manifest: request.manifest, securityPassword: request.securityPassword, runID: request.runID)
        let lock = try await self.lockForJob("restore from \(request.store.displayName)")
        return RestoreJob(orchestrator: self, request: request, lock: lock, id: Self.newJobID())
    }

    /// What every job checks before it takes the lock: a valid manifest, a security password, a
    /// well-formed run id.
    private func checkStart(manifest: Manifest, securityPassword: Secret, runID: String?) throws {
        let issues = ManifestValidator(registry: self.registry).validate(manifest)
        if !issues.isEmpty {
            throw BackupError(.invalidManifest, issues.map(\.description).joined(separator: "; "))
        }
        guard !securityPassword.isEmpty else {
            throw BackupError(.invalidInput, "the security password must not be empty")
        }
        if let runID, !JobRecord.isValidRunID(runID) {
            throw BackupError(.invalidInput, "the run id must be 1-128 letters, digits or ._:+- characters")
        }
    }

    /// Runs a whole backup: begin, then run.
    public func backup(_ request: BackupRequest) async throws -> JobRecord {
        try await self.beginBackup(request).run()
    }

    /// Runs a whole restore: begin, then run.
    public func restore(_ request: RestoreRequest) async throws -> JobRecord {
        try await self.beginRestore(request).run()
    }

    /// A short random id for a job: unique enough to tell jobs apart, short enough for log lines.
    static func newJobID() -> String {
        String(UUID().uuidString.lowercased().replacingOccurrences(of: "-", with: "").prefix(12))
    }

    func lockForJob(_ description: String) async throws -> JobLock {
        try self.status.prepare()
        let lock = try await self.acquireJobLock(description)
        // With the lock held, no other process runs a job here: a record still EXECUTING is a dead
        // job's, whatever its kind (the lock is ours, so `force`).
        try self.status.recoverInterrupted(force: true)
        return lock
    }

    /// Cleans up after a job that died, before a new one starts; call with the job lock held (every
    /// job's `run()` does, and `recover()`). An interrupted restore is rolled back from its journal
    /// first; then staging leftovers and abandoned cipher resources (gpg-agents) are removed.
    /// Returns a note for the new job's log.
    func recoverAfterInterruption(logger: Logger) async -> String? {
        let note = await RestoreRecovery(orchestrator: self).run(logger: logger)
        StagingArea.removeLeftovers(base: self.stagingBase, kinds: ["backup", "restore", "verify", "diff", "drill", "rekey"])
        self.cipher.removeAbandonedResources()
        return note
    }

    /// Takes the job lock; `.busy` while another job runs. A job writes its final record just before
    /// it releases the lock, so a client that saw COMPLETED and starts the next job at once can find
    /// the lock still held for a moment: then, and only then (the holder a backup or restore, neither
    /// record EXECUTING), it waits for the release, a bounded time.
    private func acquireJobLock(_ description: String) async throws -> JobLock {
        let directory = self.status.directory
        let deadline = ContinuousClock.now + .seconds(self.finishingJobGraceSeconds)
        var waiting = false
        while true {
            do {
                return try JobLock.acquire(stateDirectory: directory, description: description)
            } catch let busy as BackupError where busy.code == .busy {
                guard ContinuousClock.now < deadline, self.aJobIsFinishing() else { throw busy }
                if !waiting {
                    waiting = true
                    self.logger.debug("the job lock is held by a job that has finished: waiting for its release", metadata: ["holder": "\(JobLock.holder(stateDirectory: directory) ?? "")"])
                }
                do { try await Task.sleep(for: .milliseconds(10)) } catch { throw busy }
            }
        }
    }

    /// True when the lock's holder is a backup or restore whose record is already final.
    private func aJobIsFinishing() -> Bool {
        guard let holder = JobLock.holder(stateDirectory: self.status.directory),
              holder.hasPrefix("backup ") || holder.hasPrefix("restore "),
              let backup = try? self.status.backupStatus(), let restore = try? self.status.restoreStatus()
        else { return false }
        return backup.running.status != .executing && restore.status != .executing
    }

    /// Takes the job lock if it is free, finishes what a dead job left (an interrupted restore is
    /// rolled back), and releases the lock: for `gwbackup serve` at start-up. Returns what it did,
    /// nil when there was nothing to do; throws `.busy` when a job runs.
    public func recover() async throws -> String? {
        try self.status.prepare()
        let lock = try JobLock.acquire(stateDirectory: self.status.directory, description: "recovery after an interrupted job")
        defer { lock.release() }
        try self.status.recoverInterrupted(force: true)
        return await self.recoverAfterInterruption(logger: self.logger)
    }

    /// The plugin context for a component. Saving and putting back the pre-restore state
    /// (`rollback`) is not interruptible: an interrupted restore must still be able to undo itself.
    func context(for component: ManifestComponent, staging: String, rollback: Bool = false) -> PluginContext {
        var logger = self.logger
        logger[metadataKey: "component"] = "\(component.name)"
        return PluginContext(
            component: component.name, applianceRoot: self.applianceRoot, stagingDirectory: staging,
            parameters: component.parameters, isRollback: rollback, logger: logger,
            cancellation: rollback ? nil : self.cancellation)
    }

    /// Fires `cancellation` once the job deadline has passed, unless the returned item is cancelled
    /// first (when the job ends).
    func startDeadline() -> JobDeadline {
        self.cancellation.stop(after: self.jobDeadlineSeconds)
    }

    /// The decompression a component needs, nil for `none`; throws for one this build lacks.
    func decompression(for component: SealedIndex.Component) throws -> (any PayloadCompression)? {
        try Self.decompression(named: component.compression, in: self.decompressors)
    }

    static func decompression(named name: String, in decompressors: [String: any PayloadCompression]) throws -> (any PayloadCompression)? {
        if name == "none" { return nil }
        guard let found = decompressors[name] else {
            throw BackupError(.corrupted, "the component is compressed with \(SafeText.escaped(name, limit: 40)), which this build cannot read")
        }
        return found
    }

    /// The current time in epoch seconds.
    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }
}

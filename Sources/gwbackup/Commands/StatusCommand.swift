import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import GatewayClient
import GatewayWire

/// `gwbackup status`: the backup and restore status, as the API reports it.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the backup and restore status.")

    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var metrics: MetricsOptions
    @ParentCommand var root: GatewayBackupCommand

    /// Both statuses, as `--json` prints them (each as the API renders it).
    struct Both: Encodable {
        var backup: WireBackupStatus
        var restore: WireJobRecord
        /// Set when a restore died midway and its rollback has not run yet (local status only).
        var recovery: String?
    }

    func run() async throws {
        try await CommandSupport.run {
            let backup: BackupStatus
            let restore: JobRecord
            var recovery: String?
            var proofs: JobStatistics.Proofs?
            if self.root.server.isRemote {
                try self.state.refuseForServer()
                try self.metrics.refuseForServer()
                (backup, restore) = try await self.root.server.withClient { client in
                    (try await client.backupStatus(), try await client.restoreStatus())
                }
            } else {
                let runtime = CommandSupport.runtime(state: self.state, output: self.output)
                // A job left EXECUTING by a process that died is reported as interrupted.
                try runtime.status.recoverInterrupted()
                backup = try runtime.status.backupStatus()
                restore = try runtime.status.restoreStatus()
                recovery = Self.recoveryNote(stateDirectory: runtime.status.directory)
                proofs = (try? runtime.status.statistics())?.proofs
                self.metrics.write(status: runtime.status)
            }
            try self.show(backup: backup, restore: restore, recovery: recovery, proofs: proofs)
        }
    }

    /// A sentence when a restore journal is open and no job runs (so nobody is rolling it back yet).
    static func recoveryNote(stateDirectory: String) -> String? {
        guard !JobLock.isHeld(stateDirectory: stateDirectory) else { return nil }
        do {
            guard let journal = try RestoreJournal.open(in: stateDirectory) else { return nil }
            return "PENDING RECOVERY: the restore of \(SafeText.escaped(journal.backup)) (job \(journal.jobID)) stopped midway; the next job, or gwbackup serve at start, rolls back \(journal.entries.map(\.component.name).joined(separator: ", ")) from the pre-restore copies"
        } catch {
            return "RECOVERY FAILED: \(BackupError.wrap(error).message)"
        }
    }

    private func show(backup: BackupStatus, restore: JobRecord, recovery: String?, proofs: JobStatistics.Proofs?) throws {
        if self.output.json {
            try Format.printJSON(Both(backup: WireBackupStatus(backup), restore: WireJobRecord(restore), recovery: recovery))
            return
        }
        if let recovery { print(recovery) }
        if let last = backup.lastSuccessful {
            print("last successful backup: \(last.backup ?? "") at \(Format.time(last.timeStamp)) in \(last.subdir)")
        } else {
            print("last successful backup: none")
        }
        print(backup.running.status == .none ? "backup: NONE" : Format.describe(backup.running, job: "backup"))
        print(restore.status == .none ? "restore: NONE" : Format.describe(restore, job: "restore"))
        // When backups were last proven to restore (this machine's drills and verifications).
        if let proofs {
            func line(_ passed: Int64?, _ tried: Int64?) -> String {
                guard let tried else { return "never" }
                let last = passed.map { "passed \(Format.time($0))" } ?? "never passed"
                return passed == tried ? last : "\(last); FAILED \(Format.time(tried))"
            }
            print("last drill: \(line(proofs.lastDrillSuccess, proofs.lastDrillAttempt)); last full verification: \(line(proofs.lastVerified, proofs.lastVerifyAttempt))")
        }
    }
}

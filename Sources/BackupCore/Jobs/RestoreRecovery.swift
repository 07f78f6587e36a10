import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// Finishes a restore that died midway (killed, power lost): rolls back every component its journal
/// names, newest first, from the pre-restore copies, then closes the journal and records the restore
/// as `ERROR` ("interrupted, rolled back"). Idempotent: a crash during it is finished the same way by
/// the next start.
struct RestoreRecovery {
    let orchestrator: Orchestrator

    /// Runs the recovery if a journal is open; returns a note, or nil when there was nothing to do.
    func run(logger: Logger) async -> String? {
        let directory = self.orchestrator.status.directory
        let journal: RestoreJournal
        do {
            guard let open = try RestoreJournal.open(in: directory) else { return nil }
            journal = open
        } catch {
            // A journal that cannot be read cannot be replayed: keep it and its copies for a person.
            let message = BackupError.wrap(error).message
            logger.critical("restore journal unreadable", metadata: ["error": "\(message)"])
            let kept = RestoreJournal.path(in: directory) + ".unreadable-\(Orchestrator.now())"
            try? FileTree.rename(RestoreJournal.path(in: directory), to: kept)
            self.record("an interrupted restore could not be rolled back automatically: \(message); the journal is kept as \(kept)", rolledBack: false)
            return "an interrupted restore's journal was unreadable (kept as \(kept))"
        }
        logger.warning("rolling back an interrupted restore", metadata: ["backup": "\(SafeText.escaped(journal.backup))", "restore_job_id": "\(journal.jobID)"])
        var failed: [String] = []
        var pending = Array(journal.entries.reversed())
        for pass in 1...2 {
            var retry: [RestoreJournal.Entry] = []
            for entry in pending {
                do {
                    guard let plugin = self.orchestrator.registry.plugin(id: entry.component.plugin) else {
                        throw BackupError(.pluginFailed, "plugin '\(entry.component.plugin)' is not installed")
                    }
                    guard try FileStatus.of(entry.rollback)?.kind == .directory else {
                        throw BackupError(.notFound, "its pre-restore copy \(entry.rollback) is missing")
                    }
                    _ = try await plugin.restore(self.orchestrator.context(for: entry.component, staging: entry.rollback, rollback: true))
                } catch {
                    if pass == 1 {
                        retry.append(entry)
                    } else {
                        failed.append("\(entry.component.name) (\(BackupError.wrap(error).message))")
                    }
                }
            }
            pending = retry
            if pending.isEmpty { break }
        }
        // Durable before the journal closes; if the sync fails, the journal stays for the next attempt.
        do { try FileTree.syncFileSystem(of: self.orchestrator.applianceRoot) } catch {
            logger.critical("cannot sync the rolled-back files", metadata: ["error": "\(error)"])
            return "an interrupted restore was rolled back but could not be synced to disk: \(BackupError.wrap(error).message); the next job tries again"
        }
        var kept: String?
        if !failed.isEmpty {
            // Keep the copies where the clean-up of staging does not reach, then close the journal:
            // a rollback that keeps failing must not block every later job.
            let destination = directory + "/kept-" + (journal.staging as NSString).lastPathComponent
            kept = (try? FileTree.rename(journal.staging, to: destination)) != nil ? destination : journal.staging
            logger.critical("rollback of an interrupted restore failed", metadata: ["components": "\(failed)", "kept": "\(kept ?? "")"])
        }
        do {
            try RestoreJournal.close(in: directory)
        } catch {
            logger.critical("cannot close the restore journal", metadata: ["error": "\(error)"])
            return "an interrupted restore was rolled back but its journal could not be closed: \(BackupError.wrap(error).message)"
        }
        if kept == nil { try? FileTree.remove(journal.staging) }
        let summary = failed.isEmpty
            ? "interrupted, rolled back: the restore of \(SafeText.escaped(journal.backup)) stopped before it finished; every component it touched was put back as it was before the restore"
            : "interrupted; ROLLBACK FAILED for \(failed.joined(separator: ", ")); the pre-restore copies are kept in \(kept ?? journal.staging)"
        self.record(summary, rolledBack: failed.isEmpty, jobID: journal.jobID, components: journal.entries.map(\.component.name))
        logger.notice("interrupted restore recovered", metadata: ["rolled_back": "\(failed.isEmpty)"])
        return summary
    }

    /// Records the outcome in the restore status (the interrupted restore's record, when it is there).
    private func record(_ message: String, rolledBack: Bool, jobID: String? = nil, components: [String] = []) {
        let store = self.orchestrator.status
        var record = (try? store.restoreStatus()) ?? .none
        if record.id != jobID || record.status == .none {
            record = JobRecord(host: record.host, username: record.username, path: record.path, timeStamp: Orchestrator.now(), status: .error, id: jobID)
        }
        record.status = .error
        record.finished = Orchestrator.now()
        record.message = message
        for index in record.components.indices where components.contains(record.components[index].name) {
            record.components[index].status = rolledBack ? .rolledBack : .failed
            record.components[index].message = rolledBack ? "rolled back after the interruption" : "interrupted; rollback failed"
        }
        try? store.saveRestore(record)
    }
}

import BackupModel
import BackupPOSIX
import Foundation

/// A rotation that holds the job lock (`BackupRekey.begin`). `run()` rotates, keeps its record in
/// the state directory (`StatusStore.rekeyStatus`: `EXECUTING`, each backup's outcome as it comes,
/// then `COMPLETED` or `ERROR`), and releases the lock.
public struct RekeyJob: Sendable {
    let rekey: BackupRekey
    let lock: JobLock
    /// The job's id, as its record carries it.
    public let id: String
    let runID: String?
    let oldKey: String
    let newKey: String

    /// Fire it to stop the rotation between two files; what is stopped leaves each backup readable
    /// with exactly one of the two passwords.
    public var cancellation: JobCancellation { self.rekey.orchestrator.cancellation }

    /// Rotates; returns the report, or throws what stopped the rotation. Either way its record ends
    /// `COMPLETED` (every backup rotated) or `ERROR`, and the lock is released after it.
    public func run() async throws -> BackupRekey.Report {
        defer { self.lock.release() }
        let status = self.rekey.orchestrator.status
        let logger = self.rekey.orchestrator.logger
        var record = RekeyRecord(id: self.id, runID: self.runID, status: .executing, timeStamp: Orchestrator.now(), location: self.rekey.store.displayName)
        // Monitoring only: a record that cannot be written never stops the rotation.
        func save() {
            do { try status.saveRekey(record) } catch {
                logger.error("cannot save the rotation's status", metadata: ["job_id": "\(self.id)", "error": "\(error)"])
            }
        }
        save()
        do {
            let report = try await self.rekey.perform(oldKey: self.oldKey, newKey: self.newKey) { partial in
                record.report = partial
                save()
            }
            let failed = report.backups.filter { $0.result == .failed }.count
            record.report = report
            record.status = failed == 0 ? .completed : .error
            record.message = failed == 0
                ? "\(report.backups.count) backup(s) open with key \(report.newKeyID) only"
                : "\(failed) of \(report.backups.count) backup(s) could not be rotated; each still opens with one of the two passwords: run the rotation again"
            record.finished = Orchestrator.now()
            save()
            logger.info("rekey ended", metadata: ["job_id": "\(self.id)", "status": "\(record.status.rawValue)", "backups": "\(report.backups.count)", "failed": "\(failed)"])
            return report
        } catch {
            let failure = self.cancellation.error ?? BackupError.wrap(error)
            record.status = .error
            record.message = failure.description
            record.finished = Orchestrator.now()
            save()
            logger.error("rekey failed", metadata: ["job_id": "\(self.id)", "error": "\(SafeText.field(failure.description, limit: 1000))"])
            throw failure
        }
    }
}

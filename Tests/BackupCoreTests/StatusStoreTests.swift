import BackupCore
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Status store and job lock")
struct StatusStoreTests {
    @Test func beforeAnyJobTheStatusIsNone() throws {
        let directory = try TemporaryDirectory("status")
        let store = StatusStore(directory: directory.sub("state"))
        #expect(try store.backupStatus() == BackupStatus())
        #expect(try store.backupStatus().running.status == .none)
        #expect(try store.restoreStatus().status == .none)
    }

    @Test func anExecutingJobWithoutALockHolderBecomesInterruptedAndKeepsLastSuccessful() throws {
        let directory = try TemporaryDirectory("status")
        let store = StatusStore(directory: directory.sub("state"))
        let last = JobRecord(host: "localhost", username: "mazu", path: "/b", subdir: "/b/x", timeStamp: 100, status: .completed, backup: "x")
        var running = JobRecord(host: "localhost", username: "mazu", path: "/b", timeStamp: 200, status: .executing)
        running.components = [ComponentResult(name: "config", status: .running)]
        try store.save(BackupStatus(lastSuccessful: last, running: running))
        try store.saveRestore(JobRecord(host: "h", username: "u", path: "/p", timeStamp: 300, status: .executing))

        #expect(try store.recoverInterrupted())
        let status = try store.backupStatus()
        #expect(status.running.status == .error)
        #expect(status.running.message.hasPrefix("interrupted"))
        #expect(status.running.components.first?.status == .failed)
        #expect(status.lastSuccessful == last)
        #expect(try store.restoreStatus().status == .error)
        #expect(try store.recoverInterrupted() == false)
    }

    @Test func aLiveLockHolderIsNotInterrupted() throws {
        let directory = try TemporaryDirectory("status")
        let store = StatusStore(directory: directory.sub("state"))
        try store.prepare()
        try store.save(BackupStatus(running: JobRecord(host: "localhost", username: "mazu", path: "/b", timeStamp: 1, status: .executing)))
        let lock = try JobLock.acquire(stateDirectory: store.directory, description: "backup to test")
        #expect(try store.recoverInterrupted() == false)
        #expect(try store.backupStatus().running.status == .executing)
        lock.release()
        #expect(try store.recoverInterrupted())
    }

    @Test func aSecondJobIsRefusedWhileTheLockIsHeld() throws {
        let directory = try TemporaryDirectory("status")
        try FileTree.makePrivateDirectory(directory.sub("state"))
        let lock = try JobLock.acquire(stateDirectory: directory.sub("state"), description: "backup to local /b")
        #expect {
            _ = try JobLock.acquire(stateDirectory: directory.sub("state"), description: "restore")
        } throws: { error in
            let error = error as? BackupError
            return error?.code == .busy && error?.message.contains("backup to local /b") == true
        }
        lock.release()
        let again = try JobLock.acquire(stateDirectory: directory.sub("state"), description: "restore")
        again.release()
    }

    @Test func aTornStatusFileIsReportedNotTrusted() throws {
        let directory = try TemporaryDirectory("status")
        try directory.write("state/backup-status.json", "{\"running\": {\"host\"")
        #expect(throws: BackupError.self) { try StatusStore(directory: directory.sub("state")).backupStatus() }
    }
}

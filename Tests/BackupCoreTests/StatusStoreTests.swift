import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing
import Glibc

@Suite("Status store and job lock")
struct StatusStoreTests {
    @Test func beforeAnyJobTheStatusIsNone() throws {
        let directory = try TemporaryDirectory("status")
        let store = StatusStore(directory: directory.sub("state"))
        #expect(try store.backupStatus() == BackupStatus())
        #expect(try store.backupStatus().running.status == .none)
        #expect(try store.restoreStatus().status == .none)
    }

    /// The access time of `path` (seconds).
    func accessTime(_ path: String) -> Int {
        var info = stat()
        return stat(path, &info) == 0 ? Int(info.st_atim.tv_sec) : -1
    }

    /// Sets the access time of `path` to 1,000 s after 1970, before its modification time (2,000 s): under
    /// `relatime` the next ordinary read updates it.
    func ageAccessTime(_ path: String) {
        var times = [timespec(tv_sec: 1000, tv_nsec: 0), timespec(tv_sec: 2000, tv_nsec: 0)]
        _ = utimensat(AT_FDCWD, path, &times, 0)
    }

    @Test func readingTheStatusWritesNothingNotEvenAnAccessTime() throws {
        let directory = try TemporaryDirectory("status-atime")
        let store = StatusStore(directory: directory.sub("state"))
        try store.save(BackupStatus(running: JobRecord(host: "localhost", username: "mazu", path: "/b", timeStamp: 1, status: .completed)))
        let path = try #require(store.statusFiles.first { FileManager.default.fileExists(atPath: $0) })
        // The control: an ordinary read of a file whose access time is old updates it.
        let control = try directory.write("control", "x")
        self.ageAccessTime(control)
        _ = FileManager.default.contents(atPath: control)
        #expect(self.accessTime(control) != 1000, "this filesystem updates access times on read (relatime)")
        // The status read does not.
        self.ageAccessTime(path)
        _ = try store.backupStatus()
        #expect(self.accessTime(path) == 1000, "the status read changed the file's access time")
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

    /// A preview and a rotation left EXECUTING by a process that died end ERROR too, and say so.
    @Test func anExecutingPreviewOrRotationWithoutALockHolderBecomesInterrupted() throws {
        let directory = try TemporaryDirectory("status")
        let store = StatusStore(directory: directory.sub("state"))
        #expect(try store.previewStatus().status == .none && store.rekeyStatus() == .none)
        try store.savePreview(JobRecord(host: "localhost", username: "", path: "/b", timeStamp: 300, status: .executing, components: [ComponentResult(name: "config", status: .running)]))
        let partial = BackupRekey.Report(location: "/b", oldKeyID: "0123456789abcdef", newKeyID: "fedcba9876543210", backups: [])
        try store.saveRekey(RekeyRecord(id: "abc", status: .executing, timeStamp: 400, location: "/b", report: partial))

        #expect(try store.recoverInterrupted())
        let preview = try store.previewStatus()
        #expect(preview.status == .error && preview.message.hasPrefix("interrupted") && preview.components.first?.status == .failed, "\(preview)")
        let rekey = try store.rekeyStatus()
        #expect(rekey.status == .error && rekey.finished != nil && rekey.report == partial, "\(rekey)")
        #expect(rekey.message.contains("interrupted") && rekey.message.contains("run the rotation again"), "\(rekey.message)")
        // Neither is a restore or a backup.
        #expect(try store.restoreStatus().status == .none && store.backupStatus().running.status == .none)
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

    /// The status cache and `/metrics` ask "is a job running?" many times a second. Asking must never
    /// hold the lock itself: a job started at that moment was refused as "busy" (issue 23). 500 jobs
    /// started the moment the previous one released, under a constant stream of questions: every one
    /// starts, and the answers are right before and after.
    @Test func askingWhetherAJobRunsNeverMakesAJobThatStartsThenBusy() async throws {
        // 500 lock cycles against a busy prober: off the cooperative pool.
        try await Blocking.run { try self.startJobsUnderQuestions() }
    }

    func startJobsUnderQuestions() throws {
        let directory = try TemporaryDirectory("lock-race")
        let state = directory.sub("state")
        try FileTree.makePrivateDirectory(state)
        final class Flag: @unchecked Sendable {
            private let lock = NSLock()
            private var value = false
            var isSet: Bool { self.lock.withLock { self.value } }
            func set() { self.lock.withLock { self.value = true } }
        }
        let stop = Flag(), stopped = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            while !stop.isSet { _ = JobLock.isHeld(stateDirectory: state) }
            stopped.signal()
        }
        var refused = 0
        var lock = try JobLock.acquire(stateDirectory: state, description: "backup 0")
        #expect(JobLock.isHeld(stateDirectory: state))
        for index in 1...500 {
            lock.release()
            do {
                lock = try JobLock.acquire(stateDirectory: state, description: "backup \(index)")
            } catch {
                refused += 1
                lock = try JobLock.acquireBlocking(path: state + "/job.lock")
            }
        }
        stop.set()
        stopped.wait()
        #expect(refused == 0, "\(refused) of 500 jobs were refused while nothing else held the lock")
        #expect(JobLock.isHeld(stateDirectory: state))
        #expect(JobLock.holder(stateDirectory: state)?.hasPrefix("backup 500") == true)
        lock.release()
        #expect(!JobLock.isHeld(stateDirectory: state))
        // The finished job's description stays for whoever finds the lock held a moment longer.
        #expect(JobLock.holder(stateDirectory: state)?.hasPrefix("backup 500") == true)
    }

    /// A job's deadline, cancelled when the job ends, lets go at once of what its cancellation holds
    /// (through its handlers, the job's store): a queued `asyncAfter` kept it for the deadline's six
    /// hours, and a server running short jobs grew by hundreds of KiB a job (issue 23).
    @Test func aCancelledDeadlineLetsGoOfTheJobAtOnce() async throws {
        final class Held: Sendable {}
        weak var watched: Held?
        do {
            let held = Held()
            watched = held
            let cancellation = JobCancellation()
            cancellation.onCancel { _ in _ = held }
            let deadline = cancellation.stop(after: 6 * 3600)
            deadline.cancel()
        }
        let gone = try await DeadlineWait.until(seconds: 10) { watched == nil }
        #expect(gone, "the cancellation (and what its handlers hold) outlived its cancelled deadline")
        // A deadline that fires still stops the job.
        let cancellation = JobCancellation()
        let deadline = cancellation.stop(after: 0.05)
        #expect(try await DeadlineWait.until(seconds: 10) { cancellation.isCancelled })
        #expect(cancellation.reason?.contains("longer than its deadline") == true)
        deadline.cancel()
    }

    @Test func aTornStatusFileIsReportedNotTrusted() throws {
        let directory = try TemporaryDirectory("status")
        try directory.write("state/backup-status.json", "{\"running\": {\"host\"")
        #expect(throws: BackupError.self) { try StatusStore(directory: directory.sub("state")).backupStatus() }
    }
}

/// Waits for a condition with a deadline (polling every 20 ms).
enum DeadlineWait {
    static func until(seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while ContinuousClock.now < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return condition()
    }
}

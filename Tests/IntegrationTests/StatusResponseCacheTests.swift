import BackupCore
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import NIOCore
import Testing

/// The status GETs' answers are kept only while nothing they are made of changed.
@Suite("Status answers kept between changes")
struct StatusResponseCacheTests {
    /// How many answers a cache had made.
    final class Counter: @unchecked Sendable {
        var made = 0
    }

    /// A cache over a fresh state directory, and what it answers: "N STATUS", N counting the
    /// answers made.
    struct Subject {
        let directory: TemporaryDirectory
        let store: StatusStore
        let cache: StatusResponseCache
        let counter = Counter()

        init(_ name: String, maxAge: Duration) throws {
            self.directory = try TemporaryDirectory(name)
            self.store = StatusStore(directory: self.directory.sub("state"))
            try self.store.prepare()
            self.cache = StatusResponseCache(status: self.store, maxAge: maxAge)
        }

        func ask() throws -> String {
            let (store, counter) = (self.store, self.counter)
            let body = try self.cache.answer("backup") {
                counter.made += 1
                let status = try store.backupStatus()
                return (ByteBuffer(string: "\(counter.made) \(status.running.status.rawValue)"), status.running.status == .executing)
            }
            return String(buffer: body)
        }
    }

    @Test func anAnswerIsKeptUntilThisProcessOrAnotherWritesTheStatus() throws {
        let subject = try Subject("status-cache", maxAge: .seconds(3600))
        #expect(try subject.ask() == "1 NONE")
        for _ in 0..<50 { #expect(try subject.ask() == "1 NONE") }

        // This process writes: the next answer is made afresh.
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .completed, id: "a")
        try subject.store.save(status)
        #expect(try subject.ask() == "2 COMPLETED")
        #expect(try subject.ask() == "2 COMPLETED")

        // Another process (the CLI on the same state directory) writes the file: seen on disk.
        // The same length and, within the clock's tick, possibly the same mtime: the inode tells.
        let path = subject.directory.sub("state/backup-status.json")
        try FileTree.writeAtomically(try FileTree.readFile(path), to: path)
        #expect(try subject.ask() == "3 COMPLETED")
        try FileTree.remove(path)
        #expect(try subject.ask() == "4 NONE")
    }

    @Test func anAnswerOlderThanItsMaximumAgeIsMadeAgain() async throws {
        let subject = try Subject("status-cache-age", maxAge: .milliseconds(50))
        #expect(try subject.ask() == "1 NONE")
        let deadline = ContinuousClock.now + .seconds(30)
        while try subject.ask() == "1 NONE", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try subject.ask() == "2 NONE")
    }

    @Test func writesToAnotherStateDirectoryKeepTheAnswerAndWritesToItsOwnDoNot() throws {
        let subject = try Subject("status-cache-own", maxAge: .seconds(3600))
        let other = try Subject("status-cache-other", maxAge: .seconds(3600))
        #expect(try subject.ask() == "1 NONE")
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .completed, id: "a")
        try other.store.save(status)
        try ScheduleState().save(to: other.store.directory)
        #expect(try subject.ask() == "1 NONE", "another state directory's writes leave this answer kept")
        let before = StateGeneration.current(in: subject.store.directory)
        try ScheduleState().save(to: subject.store.directory)
        #expect(StateGeneration.current(in: subject.store.directory) != before, "its own schedule write counts")
        #expect(try subject.ask() == "2 NONE")
    }

    @Test func aRunningJobIsReportedFromTheCacheOnlyWhileSomeoneHoldsTheJobLock() throws {
        let subject = try Subject("status-cache-lock", maxAge: .seconds(3600))
        let lock = try JobLock.acquire(stateDirectory: subject.store.directory, description: "test")
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .executing, id: "a")
        try subject.store.save(status)
        #expect(try subject.ask() == "1 EXECUTING")
        #expect(try subject.ask() == "1 EXECUTING", "kept while the job's lock is held")
        // The job's process is gone: the answer is made again every time, as before the cache.
        lock.release()
        #expect(try subject.ask() == "2 EXECUTING")
        #expect(try subject.ask() == "3 EXECUTING")
    }
}

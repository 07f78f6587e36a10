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

    func ask(_ cache: StatusResponseCache, _ store: StatusStore, _ counter: Counter) throws -> String {
        let body = try cache.answer("backup") {
            counter.made += 1
            let status = try store.backupStatus()
            return (ByteBuffer(string: "\(counter.made) \(status.running.status.rawValue)"), status.running.status == .executing)
        }
        return String(buffer: body)
    }

    @Test func anAnswerIsKeptUntilThisProcessOrAnotherWritesTheStatus() throws {
        let directory = try TemporaryDirectory("status-cache")
        let store = StatusStore(directory: directory.sub("state"))
        try store.prepare()
        let cache = StatusResponseCache(status: store, maxAge: .seconds(3600))
        let counter = Counter()
        #expect(try self.ask(cache, store, counter) == "1 NONE")
        for _ in 0..<50 { #expect(try self.ask(cache, store, counter) == "1 NONE") }

        // This process writes: the next answer is made afresh.
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .completed, id: "a")
        try store.save(status)
        #expect(try self.ask(cache, store, counter) == "2 COMPLETED")
        #expect(try self.ask(cache, store, counter) == "2 COMPLETED")

        // Another process (the CLI on the same state directory) writes the file: seen on disk.
        // The same length and, within the clock's tick, possibly the same mtime: the inode tells.
        let path = directory.sub("state/backup-status.json")
        try FileTree.writeAtomically(try FileTree.readFile(path), to: path)
        #expect(try self.ask(cache, store, counter) == "3 COMPLETED")
        try FileTree.remove(path)
        #expect(try self.ask(cache, store, counter) == "4 NONE")
    }

    @Test func anAnswerOlderThanItsMaximumAgeIsMadeAgain() async throws {
        let directory = try TemporaryDirectory("status-cache-age")
        let store = StatusStore(directory: directory.sub("state"))
        try store.prepare()
        let cache = StatusResponseCache(status: store, maxAge: .milliseconds(50))
        let counter = Counter()
        #expect(try self.ask(cache, store, counter) == "1 NONE")
        let deadline = ContinuousClock.now + .seconds(30)
        while try self.ask(cache, store, counter) == "1 NONE", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try self.ask(cache, store, counter) == "2 NONE")
    }

    @Test func aRunningJobIsReportedFromTheCacheOnlyWhileSomeoneHoldsTheJobLock() throws {
        let directory = try TemporaryDirectory("status-cache-lock")
        let store = StatusStore(directory: directory.sub("state"))
        try store.prepare()
        let lock = try JobLock.acquire(stateDirectory: store.directory, description: "test")
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .executing, id: "a")
        try store.save(status)
        let cache = StatusResponseCache(status: store, maxAge: .seconds(3600))
        let counter = Counter()
        #expect(try self.ask(cache, store, counter) == "1 EXECUTING")
        #expect(try self.ask(cache, store, counter) == "1 EXECUTING", "kept while the job's lock is held")
        // The job's process is gone: the answer is made again every time, as before the cache.
        lock.release()
        #expect(try self.ask(cache, store, counter) == "2 EXECUTING")
        #expect(try self.ask(cache, store, counter) == "3 EXECUTING")
    }
}

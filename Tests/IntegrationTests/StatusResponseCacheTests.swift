import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import NIOCore
import Synchronization
import Testing

/// The status GETs' answers are kept only while nothing they are made of changed.
@Suite("Status answers kept between changes")
struct StatusResponseCacheTests {
    /// How many answers a cache had made.
    final class Counter: Sendable {
        private let value = Mutex(0)
        /// Counts one more made answer; returns the count.
        func next() -> Int { self.value.withLock { $0 += 1; return $0 } }
        var made: Int { self.value.withLock { $0 } }
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
            // Files checked on every request: these tests change them between two requests.
            self.cache = StatusResponseCache(status: self.store, maxAge: maxAge, fileCheckInterval: .zero)
        }

        func ask() async throws -> String {
            try await Self.ask(self.cache, self.store, self.counter)
        }

        static func ask(_ cache: StatusResponseCache, _ store: StatusStore, _ counter: Counter) async throws -> String {
            let body = try await cache.answer("backup") {
                let made = counter.next()
                let status = try store.backupStatus()
                return (ByteBuffer(string: "\(made) \(status.running.status.rawValue)"), status.running.status == .executing)
            }
            return String(buffer: body)
        }
    }

    @Test func anAnswerIsKeptUntilThisProcessOrAnotherWritesTheStatus() async throws {
        let subject = try Subject("status-cache", maxAge: .seconds(3600))
        #expect(try await subject.ask() == "1 NONE")
        for _ in 0..<50 { #expect(try await subject.ask() == "1 NONE") }

        // This process writes: the next answer is made afresh.
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .completed, id: "a")
        try subject.store.save(status)
        #expect(try await subject.ask() == "2 COMPLETED")
        #expect(try await subject.ask() == "2 COMPLETED")

        // Another process (the CLI on the same state directory) writes the file: seen on disk.
        // The same length and, within the clock's tick, possibly the same mtime: the inode tells.
        let path = subject.directory.sub("state/backup-status.json")
        try FileTree.writeAtomically(try FileTree.readFile(path), to: path)
        #expect(try await subject.ask() == "3 COMPLETED")
        try FileTree.remove(path)
        #expect(try await subject.ask() == "4 NONE")
    }

    @Test func anAnswerOlderThanItsMaximumAgeIsMadeAgain() async throws {
        let subject = try Subject("status-cache-age", maxAge: .milliseconds(50))
        #expect(try await subject.ask() == "1 NONE")
        let deadline = ContinuousClock.now + .seconds(30)
        while try await subject.ask() == "1 NONE", ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await subject.ask() == "2 NONE")
    }

    @Test func writesToAnotherStateDirectoryKeepTheAnswerAndWritesToItsOwnDoNot() async throws {
        let subject = try Subject("status-cache-own", maxAge: .seconds(3600))
        let other = try Subject("status-cache-other", maxAge: .seconds(3600))
        #expect(try await subject.ask() == "1 NONE")
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .completed, id: "a")
        try other.store.save(status)
        try ScheduleState().save(to: other.store.directory)
        #expect(try await subject.ask() == "1 NONE", "another state directory's writes leave this answer kept")
        let before = StateGeneration.current(in: subject.store.directory)
        try ScheduleState().save(to: subject.store.directory)
        #expect(StateGeneration.current(in: subject.store.directory) != before, "its own schedule write counts")
        #expect(try await subject.ask() == "2 NONE")
    }

    @Test func aRunningJobIsReportedFromTheCacheOnlyWhileSomeoneHoldsTheJobLock() async throws {
        let subject = try Subject("status-cache-lock", maxAge: .seconds(3600))
        let lock = try JobLock.acquire(stateDirectory: subject.store.directory, description: "test")
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .executing, id: "a")
        try subject.store.save(status)
        #expect(try await subject.ask() == "1 EXECUTING")
        #expect(try await subject.ask() == "1 EXECUTING", "kept while the job's lock is held")
        // The job's process is gone: the answer is made again every time, as before the cache.
        lock.release()
        #expect(try await subject.ask() == "2 EXECUTING")
        #expect(try await subject.ask() == "3 EXECUTING")
    }

    @Test func requestsArrivingWhileAnAnswerIsMadeTakeThatAnswer() async throws {
        let subject = try Subject("status-cache-once", maxAge: .seconds(3600))
        #expect(try await subject.ask() == "1 NONE")
        var status = BackupStatus()
        status.running = JobRecord(host: "h", username: "u", path: "/p", timeStamp: 1, status: .completed, id: "a")
        try subject.store.save(status)
        // 64 requests after the change: one makes the answer, the others wait for it.
        let answers = try await withThrowingTaskGroup(of: String.self) { group in
            let (cache, store, counter) = (subject.cache, subject.store, subject.counter)
            for _ in 0..<64 { group.addTask { try await Subject.ask(cache, store, counter) } }
            return try await group.reduce(into: [String]()) { $0.append($1) }
        }
        #expect(Set(answers) == ["2 COMPLETED"], "\(Set(answers))")
        #expect(subject.counter.made == 2)
    }

    @Test func fileIdentitiesAreTakenAgainOnlyAfterTheirInterval() throws {
        let directory = try TemporaryDirectory("recent-identities")
        let path = directory.sub("file")
        try directory.write("file", "one")
        let identities = RecentFileIdentities([path, directory.sub("absent")], reuse: .milliseconds(1))
        let start = ContinuousClock.now
        let first = identities.current(now: start)
        #expect(first[0] != nil && first[1] == nil)
        try FileTree.writeAtomically(Data("two!".utf8), to: path)
        #expect(identities.current(now: start + .microseconds(500)) == first, "within the interval: the identities taken before")
        let later = identities.current(now: start + .milliseconds(2))
        #expect(later[0] != first[0], "after it: the replaced file's new identity")
        #expect(later[0] == FileIdentity.of(path))
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import NIOCore
import Synchronization
import Glibc

/// The status GETs' answers, kept while nothing they are made of changed: polled answers cost a few
/// `stat`s instead of reading, decoding and encoding the status files (measured: 55% of the server's
/// CPU under load went there).
///
/// An answer is made again when this process wrote a status or schedule file (`StateGeneration`),
/// when one of the files changed on disk (another process, such as the CLI, wrote it: its inode,
/// size, mtime or ctime differ), when it is older than `maxAge` (a bound on what a change the
/// filesystem's timestamps cannot tell apart could hide), and when it reports a job `EXECUTING`
/// while no process holds the job lock (the job died: making the answer again marks it interrupted).
final class StatusResponseCache: Sendable {
    /// What an answer was made from.
    struct Key: Equatable {
        var generation: Int
        var files: [FileIdentity?]
    }

    /// A kept answer.
    struct Entry: @unchecked Sendable {
        var key: Key
        var body: ByteBuffer
        var made: ContinuousClock.Instant
        var reportsRunningJob: Bool
    }

    private struct State {
        var entries: [String: Entry] = [:]
        /// Answers being made, and the requests waiting for them: one request makes an answer and
        /// the others take it (a thousand requests arriving while it changed made it a thousand
        /// times, tens of milliseconds of work for the two threads that answer, the long tail of
        /// the latency under load).
        var making: [String: [CheckedContinuation<Void, Never>]] = [:]
    }

    private let state = Mutex(State())
    private let status: StatusStore
    private let statusFiles: RecentFileIdentities
    let maxAge: Duration
    /// True while this process runs a job: then the job lock is held, and no `/proc/locks` read
    /// (4 MiB at most, per request while a job runs) is needed to tell.
    private let jobRunsHere: @Sendable () -> Bool

    /// `fileCheckInterval`: how old the status files' identities may be (`RecentFileIdentities`).
    init(status: StatusStore, maxAge: Duration = .seconds(1), fileCheckInterval: Duration = .milliseconds(1), jobRunsHere: @escaping @Sendable () -> Bool = { false }) {
        self.status = status
        self.statusFiles = RecentFileIdentities(status.statusFiles, reuse: fileCheckInterval)
        self.maxAge = maxAge
        self.jobRunsHere = jobRunsHere
    }

    /// The answer kept under `name`, or the one `make` returns (with whether it reports a job as
    /// running), which is then kept. While one request makes it, others wait for it.
    func answer(_ name: String, make: () throws -> (body: ByteBuffer, reportsRunningJob: Bool)) async throws -> ByteBuffer {
        while true {
            // The key is taken before the answer is made: a write meanwhile makes the next request miss.
            let key = self.currentKey()
            let now = ContinuousClock.now
            if let body = self.kept(name, key: key, now: now) { return body }
            let makesIt = self.state.withLock { state -> Bool in
                guard state.making[name] == nil else { return false }
                state.making[name] = []
                return true
            }
            guard makesIt else {
                await withCheckedContinuation { continuation in
                    let waits = self.state.withLock { state -> Bool in
                        guard state.making[name] != nil else { return false }
                        state.making[name, default: []].append(continuation)
                        return true
                    }
                    if !waits { continuation.resume() }
                }
                continue
            }
            let made = Result { try make() }
            let waiting = self.state.withLock { state -> [CheckedContinuation<Void, Never>] in
                if case .success(let (body, running)) = made {
                    state.entries[name] = Entry(key: key, body: body, made: now, reportsRunningJob: running)
                }
                return state.making.removeValue(forKey: name) ?? []
            }
            for waiter in waiting { waiter.resume() }
            return try made.get().body
        }
    }

    /// The answer kept under `name` if it is still right, or nil (then `answer` makes it). Cheap
    /// enough for the event loop: a lock, a few `stat`s a millisecond, never a read.
    func kept(_ name: String) -> ByteBuffer? {
        self.kept(name, key: self.currentKey(), now: .now)
    }

    private func currentKey() -> Key {
        Key(generation: StateGeneration.current(in: self.status.directory), files: self.statusFiles.current())
    }

    private func kept(_ name: String, key: Key, now: ContinuousClock.Instant) -> ByteBuffer? {
        guard let kept = self.state.withLock({ $0.entries[name] }), kept.key == key, now - kept.made < self.maxAge else { return nil }
        guard !kept.reportsRunningJob || self.jobRunsHere() || JobLock.isHeld(stateDirectory: self.status.directory) else { return nil }
        return kept.body
    }
}

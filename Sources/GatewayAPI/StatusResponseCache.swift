import BackupCore
import Foundation
import NIOCore
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

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

    /// What `stat` tells apart of one version of a file.
    struct FileIdentity: Equatable {
        var inode: UInt64
        var size: Int64
        var modified: timespec
        var changed: timespec

        static func of(_ path: String) -> FileIdentity? {
            var info = stat()
            guard lstat(path, &info) == 0 else { return nil }
            return FileIdentity(inode: UInt64(info.st_ino), size: Int64(info.st_size), modified: info.st_mtim, changed: info.st_ctim)
        }

        static func == (lhs: FileIdentity, rhs: FileIdentity) -> Bool {
            lhs.inode == rhs.inode && lhs.size == rhs.size
                && lhs.modified.tv_sec == rhs.modified.tv_sec && lhs.modified.tv_nsec == rhs.modified.tv_nsec
                && lhs.changed.tv_sec == rhs.changed.tv_sec && lhs.changed.tv_nsec == rhs.changed.tv_nsec
        }
    }

    /// A kept answer.
    struct Entry: @unchecked Sendable {
        var key: Key
        var body: ByteBuffer
        var made: ContinuousClock.Instant
        var reportsRunningJob: Bool
    }

    private let entries = Mutex<[String: Entry]>([:])
    private let status: StatusStore
    let maxAge: Duration

    init(status: StatusStore, maxAge: Duration = .seconds(1)) {
        self.status = status
        self.maxAge = maxAge
    }

    /// The answer kept under `name`, or the one `make` returns (with whether it reports a job as
    /// running), which is then kept.
    func answer(_ name: String, make: () throws -> (body: ByteBuffer, reportsRunningJob: Bool)) throws -> ByteBuffer {
        // The key is taken before the answer is made: a write meanwhile makes the next request miss.
        let key = Key(generation: StateGeneration.current(in: self.status.directory), files: self.status.statusFiles.map(FileIdentity.of))
        let now = ContinuousClock.now
        if let kept = self.entries.withLock({ $0[name] }), kept.key == key, now - kept.made < self.maxAge,
           !kept.reportsRunningJob || JobLock.isHeld(stateDirectory: self.status.directory) {
            return kept.body
        }
        let (body, running) = try make()
        self.entries.withLock { $0[name] = Entry(key: key, body: body, made: now, reportsRunningJob: running) }
        return body
    }
}

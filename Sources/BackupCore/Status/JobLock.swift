import BackupModel
import BackupPOSIX
import Foundation
import Glibc
import Synchronization

/// One job at a time, across processes: an exclusive `flock` on `STATE/job.lock`. The kernel drops
/// the lock when its holder dies, so a killed job never blocks the next one.
public final class JobLock: Sendable {
    /// The locked descriptor, -1 once released. In a Mutex: a release from two threads must close it
    /// once (a second close would close another thread's descriptor that got the same number).
    private let fd: Mutex<Int32>
    private let path: String

    private init(fd: Int32, path: String) {
        self.fd = Mutex(fd)
        self.path = path
    }

    deinit {
        self.release()
    }

    /// Takes the lock for `description` (e.g. "backup to local /x"), or throws `.busy` naming the holder.
    public static func acquire(stateDirectory: String, description: String) throws -> JobLock {
        let path = stateDirectory + "/job.lock"
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        if flock(fd, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK {
                let detail = Self.holder(stateDirectory: stateDirectory) ?? ""
                throw BackupError(.busy, "another job is running\(detail.isEmpty ? "" : ": \(detail)")")
            }
            throw SystemCall.error("flock", path, errno: code)
        }
        let text = "\(description) (pid \(getpid()))\n"
        ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        return JobLock(fd: fd, path: path)
    }

    /// Takes an exclusive lock on `path`, waiting for another holder to release it: for short
    /// critical sections between processes (making the server's TLS key once).
    public static func acquireBlocking(path: String) throws -> JobLock {
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600) }
        guard flock(fd, LOCK_EX) == 0 else {
            let error = SystemCall.error("flock", path)
            close(fd)
            throw error
        }
        return JobLock(fd: fd, path: path)
    }

    /// True when some process holds the lock now.
    ///
    /// Read from the kernel's table of locks (`/proc/locks`), not by taking the lock for a moment: a
    /// probe that holds it, however briefly, makes a job started at that moment fail as "busy" (the
    /// status cache and `/metrics` ask often). Where /proc/locks cannot be read, the probe is used.
    public static func isHeld(stateDirectory: String) -> Bool {
        let path = stateDirectory + "/job.lock"
        var info = stat()
        guard stat(path, &info) == 0 else { return false }
        if let held = Self.listedInProcLocks(info) { return held }
        let fd = open(path, O_RDWR | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        if flock(fd, LOCK_EX | LOCK_NB) == 0 {
            flock(fd, LOCK_UN)
            return false
        }
        return true
    }

    /// Whether /proc/locks lists a FLOCK on the file `info` describes ("1: FLOCK ADVISORY WRITE 42
    /// 08:01:1234 0 EOF"; the device as major:minor in hex); nil when it cannot be read.
    static func listedInProcLocks(_ info: stat) -> Bool? {
        guard let data = try? FileTree.readFile("/proc/locks", limit: 4 << 20) else { return nil }
        let dev = UInt64(info.st_dev)
        // glibc's major() and minor() (macros Swift does not see).
        let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & ~UInt64(0xfff))
        let minor = (dev & 0xff) | ((dev >> 12) & ~UInt64(0xff))
        let device = String(format: "%02llx:%02llx:%llu", major, minor, UInt64(info.st_ino))
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            // "->" marks a waiter, not a holder.
            guard fields.count >= 6, fields[1] == "FLOCK" else { continue }
            if fields[5] == device { return true }
        }
        return false
    }

    /// What the lock file says its holder is doing ("backup to local /x (pid 42)"), or nil.
    public static func holder(stateDirectory: String) -> String? {
        guard let data = try? FileTree.readFile(stateDirectory + "/job.lock", limit: 4096), !data.isEmpty else { return nil }
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// The PID the lock file names as its holder, or nil.
    public static func holderPID(stateDirectory: String) -> Int32? {
        guard let text = self.holder(stateDirectory: stateDirectory) else { return nil }
        guard let range = text.range(of: "(pid ", options: .backwards) else { return nil }
        return Int32(text[range.upperBound...].prefix { $0.isNumber })
    }

    /// Releases the lock. Safe to call twice. The holder's description stays in the file: it is read
    /// only while someone holds the lock, and a job that finds the lock still held for the moment
    /// between a finished job's last record and this release must see who holds it (emptied first,
    /// the next job was refused as if a job still ran).
    public func release() {
        self.fd.withLock { fd in
            guard fd >= 0 else { return }
            flock(fd, LOCK_UN)
            close(fd)
            fd = -1
        }
    }
}

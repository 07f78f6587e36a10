import BackupModel
import Glibc

/// An open file descriptor used as a `ByteSource` and `ByteSink`. It owns the descriptor and closes it.
/// Sendable so it can be handed to the one thread that uses it; it is never used by two at once.
public final class FileDescriptorStream: ByteSource, ByteSink, @unchecked Sendable {
    /// The descriptor, for handing to a library that reads or writes it directly.
    public let fd: Int32
    private let label: String
    private var closed = false
    private let flush: Flush

    /// What `finish()` does with the written data before it closes the descriptor.
    public enum Flush: Sendable {
        /// Nothing: the data reaches the disk when the kernel decides.
        case none
        /// Starts writing it back without waiting (`sync_file_range`), so that one filesystem sync
        /// later finds little left to write: for many files synced at once by `syncfs`.
        case startWriteback
        /// `fsync`: durable when `finish()` returns.
        case fsync
    }

    /// Takes ownership of `fd`. `label` names it in errors (a path, "pipe", …).
    public init(fd: Int32, label: String, flush: Flush = .none) {
        self.fd = fd
        self.label = label
        self.flush = flush
    }

    /// Opens `path` for reading.
    public static func openForReading(_ path: String) throws -> FileDescriptorStream {
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        return FileDescriptorStream(fd: fd, label: path)
    }

    /// Linux's O_NOATIME (the same on x86-64 and arm64), which Glibc's module leaves out (it needs
    /// _GNU_SOURCE).
    package static let noAccessTime: Int32 = 0o1000000

    /// Opens `path` for reading without updating its access time where the kernel allows it (the
    /// file's owner, or root): such a read writes nothing. Under `relatime` the first read after a
    /// change updates the access time, an inode change that goes through the filesystem's journal,
    /// and a journal busy with a backup's writes can hold it; the API's status GETs read the status
    /// files a running job has just rewritten.
    public static func openForReadingWithoutAccessTime(_ path: String) throws -> FileDescriptorStream {
        let fd = try SystemCall.retrying("open", path) { () -> Int32 in
            let fd = open(path, O_RDONLY | O_CLOEXEC | Self.noAccessTime)
            // Not the file's owner and without CAP_FOWNER: the kernel refuses O_NOATIME alone.
            return fd < 0 && errno == EPERM ? open(path, O_RDONLY | O_CLOEXEC) : fd
        }
        return FileDescriptorStream(fd: fd, label: path)
    }

    /// Creates `path` (which must not exist) for writing with `mode`; `finish()` makes it durable
    /// (`flush`, by default `.fsync`).
    public static func create(_ path: String, mode: mode_t = 0o600, flush: Flush = .fsync) throws -> FileDescriptorStream {
        let fd = try SystemCall.retrying("open", path) {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        }
        return FileDescriptorStream(fd: fd, label: path, flush: flush)
    }

    deinit {
        if !self.closed { close(self.fd) }
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard let base = buffer.baseAddress, buffer.count > 0 else { return 0 }
        return try SystemCall.retrying("read", self.label) { Glibc.read(self.fd, base, buffer.count) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard var pointer = bytes.baseAddress else { return }
        var remaining = bytes.count
        while remaining > 0 {
            let written = try SystemCall.retrying("write", self.label) { Glibc.write(self.fd, pointer, remaining) }
            pointer += written
            remaining -= written
        }
    }

    public func finish() throws {
        guard !self.closed else { return }
        switch self.flush {
        case .fsync:
            try SystemCall.retrying("fsync", self.label) { fsync(self.fd) }
        case .startWriteback:
            // Only a hint: a kernel or filesystem without it leaves the work to the later sync.
            if let syncFileRange = Self.syncFileRange { _ = syncFileRange(self.fd, 0, 0, Self.writeback) }
        case .none:
            break
        }
        self.closed = true
        // Never retried: Linux frees the descriptor even when close says EINTR, and a second close
        // would close whatever another thread opened under the same number meanwhile.
        if close(self.fd) != 0 && errno != EINTR { throw SystemCall.error("close", self.label) }
    }

    /// `SYNC_FILE_RANGE_WRITE`: start writing dirty pages back, do not wait.
    private static let writeback: UInt32 = 2

    /// glibc's `sync_file_range`, looked up by name (declared only under `_GNU_SOURCE`).
    private static let syncFileRange: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "sync_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, Int64, Int64, UInt32) -> Int32).self)
    }()

    /// Closes without flushing (on a failure path). Safe to call twice.
    public func closeQuietly() {
        guard !self.closed else { return }
        self.closed = true
        close(self.fd)
    }
}

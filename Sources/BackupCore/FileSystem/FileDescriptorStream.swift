#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// An open file descriptor used as a `ByteSource` and `ByteSink`. It owns the descriptor and closes it.
/// Sendable so it can be handed to the one thread that uses it; it is never used by two at once.
public final class FileDescriptorStream: ByteSource, ByteSink, @unchecked Sendable {
    /// The descriptor, for handing to a library that reads or writes it directly.
    public let fd: Int32
    private let label: String
    private var closed = false
    private let syncOnFinish: Bool

    /// Takes ownership of `fd`. `label` names it in errors (a path, "pipe", …).
    public init(fd: Int32, label: String, syncOnFinish: Bool = false) {
        self.fd = fd
        self.label = label
        self.syncOnFinish = syncOnFinish
    }

    /// Opens `path` for reading.
    public static func openForReading(_ path: String) throws -> FileDescriptorStream {
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDONLY | O_CLOEXEC) }
        return FileDescriptorStream(fd: fd, label: path)
    }

    /// Creates `path` (which must not exist) for writing with `mode`; `finish()` makes it durable
    /// unless `syncOnFinish` is false (for many files whose caller syncs the whole filesystem once).
    public static func create(_ path: String, mode: mode_t = 0o600, syncOnFinish: Bool = true) throws -> FileDescriptorStream {
        let fd = try SystemCall.retrying("open", path) {
            open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        }
        return FileDescriptorStream(fd: fd, label: path, syncOnFinish: syncOnFinish)
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
        if self.syncOnFinish {
            try SystemCall.retrying("fsync", self.label) { fsync(self.fd) }
        }
        self.closed = true
        try SystemCall.retrying("close", self.label) { close(self.fd) }
    }

    /// Closes without flushing (on a failure path). Safe to call twice.
    public func closeQuietly() {
        guard !self.closed else { return }
        self.closed = true
        close(self.fd)
    }
}

import BackupModel
import Foundation
import Glibc

/// File-tree operations that keep what a backup must keep: modes, owners (where permitted), mtimes,
/// and symlinks as links. No operation follows a symlink it did not mean to.
public enum FileTree {
    /// `root` and a relative `path` joined with one slash (`root/` for an empty path).
    public static func join(_ root: String, _ path: String) -> String {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path.isEmpty ? base + "/" : base + "/" + path
    }

    /// True when this process may give files away (`chown`), i.e. runs as root.
    public static var canChangeOwners: Bool { geteuid() == 0 }

    /// The names in a directory, sorted, without `.` and `..`.
    public static func names(in directory: String) throws -> [String] {
        guard let handle = opendir(directory) else { throw SystemCall.error("opendir", directory) }
        defer { closedir(handle) }
        return names(reading: handle).sorted()
    }

    /// The names in the open directory `fd` (left open), without `.` and `..`, sorted: for walks that
    /// go from descriptor to descriptor and never resolve a path.
    public static func names(ofDescriptor fd: Int32, label: String) throws -> [String] {
        let copy = dup(fd)
        guard copy >= 0 else { throw SystemCall.error("dup", label) }
        guard let handle = fdopendir(copy) else {
            let code = errno
            close(copy)
            throw SystemCall.error("fdopendir", label, errno: code)
        }
        defer { closedir(handle) }
        // The copy shares the descriptor's position: start from the beginning whatever was read before.
        rewinddir(handle)
        return names(reading: handle).sorted()
    }

    /// The names an open directory stream lists, without `.` and `..`, in the order read.
    package static func names(reading handle: OpaquePointer) -> [String] {
        var names: [String] = []
        while let entry = readdir(handle) {
            let name = withUnsafePointer(to: entry.pointee.d_name) {
                $0.withMemoryRebound(to: CChar.self, capacity: 256) { String(cString: $0) }
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    /// Creates `path` and any missing parents with `mode` (existing directories are left alone).
    public static func makeDirectories(_ path: String, mode: mode_t = 0o755) throws {
        if let status = try FileStatus.of(path) {
            guard status.kind == .directory else {
                throw BackupError(.system, "\(path) exists and is not a directory")
            }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path { try makeDirectories(parent, mode: mode) }
        if mkdir(path, mode) != 0 && errno != EEXIST { throw SystemCall.error("mkdir", path) }
    }

    /// Creates a private directory (mode 0700) that must not exist yet.
    public static func makePrivateDirectory(_ path: String) throws {
        if mkdir(path, 0o700) != 0 { throw SystemCall.error("mkdir", path) }
        // mkdir's mode is filtered by the umask; make it exact.
        try SystemCall.retrying("chmod", path) { chmod(path, 0o700) }
    }

    /// A new private (0700) directory under the temporary directory, `PREFIXxxxxxx`.
    public static func makeTemporaryDirectory(prefix: String) throws -> String {
        let base = ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        var template = Array((base + "/" + prefix + "XXXXXX").utf8CString)
        guard let created = mkdtemp(&template) else { throw SystemCall.error("mkdtemp", base + "/" + prefix + "XXXXXX") }
        return String(cString: created)
    }

    /// Removes `path` and everything below it, never following symlinks. Missing is fine.
    public static func remove(_ path: String) throws {
        guard let status = try FileStatus.of(path) else { return }
        if status.kind == .directory {
            for name in try names(in: path) { try remove(path + "/" + name) }
            try SystemCall.retrying("rmdir", path) { rmdir(path) }
        } else {
            try SystemCall.retrying("unlink", path) { unlink(path) }
        }
    }

    /// Copies `source` to `destination` (which must not exist), recursively, keeping metadata.
    /// Returns the number of entries copied. Entries that are neither files, directories nor
    /// symlinks (sockets, devices) are skipped and reported through `skipped`.
    ///
    /// With `linkingFiles`, a regular file is hard-linked where the filesystem allows it (copied
    /// otherwise): no second copy of the data, for a destination that is only read, or renamed
    /// into place, never written to.
    @discardableResult
    ///
    /// Each copied file is fsynced unless `syncingFiles` is false: for a tree of many files whose
    /// caller makes them durable at once with `syncFileSystem` (one call, not an fsync per file).
    public static func copy(_ source: String, to destination: String, linkingFiles: Bool = false, syncingFiles: Bool = true, skipped: (String) -> Void = { _ in }) throws -> Int {
        guard let status = try FileStatus.of(source) else {
            throw BackupError(.system, "\(source): no such file or directory")
        }
        switch status.kind {
        case .directory:
            try SystemCall.retrying("mkdir", destination) { mkdir(destination, 0o700) }
            var count = 1
            for name in try names(in: source) {
                count += try copy(source + "/" + name, to: destination + "/" + name, linkingFiles: linkingFiles, syncingFiles: syncingFiles, skipped: skipped)
            }
            try applyMetadata(status, to: destination)
            return count
        case .regular:
            // The same inode: its metadata is already the source's. EXDEV, EPERM (protected
            // hard links), EMLINK: copy instead.
            if linkingFiles && link(source, destination) == 0 { return 1 }
            try copyFileContents(source, to: destination, syncing: syncingFiles)
            try applyMetadata(status, to: destination)
            return 1
        case .symlink:
            let target = try readLink(source)
            try SystemCall.retrying("symlink", destination) { symlink(target, destination) }
            try applyMetadata(status, to: destination)
            return 1
        case .other:
            skipped(source)
            return 0
        }
    }

    /// The target of the symlink at `path`.
    public static func readLink(_ path: String) throws -> String {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
        let length = try SystemCall.retrying("readlink", path) { readlink(path, &buffer, buffer.count - 1) }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Copies a regular file's bytes into a new file: in the kernel (`copy_file_range`) where the
    /// filesystems allow, through a buffer otherwise. Fsynced unless `syncing` is false (then its
    /// write-back is started, for the caller's one filesystem sync).
    public static func copyFileContents(_ source: String, to destination: String, syncing: Bool = true) throws {
        let input = try FileDescriptorStream.openForReading(source)
        let output = try FileDescriptorStream.create(destination, mode: 0o600, flush: syncing ? .fsync : .startWriteback)
        do {
            if try !Self.copyInKernel(from: input.fd, to: output.fd, label: source) {
                _ = try input.copy(to: output)
            }
            try output.finish()
        } catch {
            output.closeQuietly()
            throw error
        }
    }

    /// Copies from `input` to `output` (both at offset 0) with `copy_file_range`. False, with nothing
    /// copied, when the kernel or the filesystems cannot (the caller then copies through a buffer).
    private static func copyInKernel(from input: Int32, to output: Int32, label: String) throws -> Bool {
        guard let copyFileRange = Self.copyFileRange else { return false }
        var copied = 0
        while true {
            let count = copyFileRange(input, nil, output, nil, 1 << 30, 0)
            if count > 0 {
                copied += count
                continue
            }
            if count == 0 { return true }
            if errno == EINTR { continue }
            // Before the first byte: not supported here (EXDEV across filesystems on old kernels,
            // ENOSYS, EINVAL or EOPNOTSUPP on some filesystems). After it: a real failure.
            if copied == 0, [EXDEV, ENOSYS, EINVAL, EOPNOTSUPP, EPERM].contains(errno) { return false }
            throw SystemCall.error("copy_file_range", label)
        }
    }

    /// glibc's `copy_file_range`, looked up by name (declared only under `_GNU_SOURCE`).
    private static let copyFileRange: (@convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "copy_file_range") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32, UnsafeMutablePointer<Int64>?, Int32, UnsafeMutablePointer<Int64>?, Int, UInt32) -> Int).self)
    }()

    /// Applies owner (when permitted), mode (not on symlinks) and mtime to `path`.
    public static func applyMetadata(_ status: FileStatus, to path: String) throws {
        if canChangeOwners {
            try SystemCall.retrying("lchown", path) { lchown(path, status.uid, status.gid) }
        }
        if status.kind != .symlink {
            try SystemCall.retrying("chmod", path) { chmod(path, mode_t(status.mode)) }
        }
        var times = [
            timespec(tv_sec: Int(status.mtimeSeconds), tv_nsec: Int(status.mtimeNanoseconds)),
            timespec(tv_sec: Int(status.mtimeSeconds), tv_nsec: Int(status.mtimeNanoseconds)),
        ]
        try SystemCall.retrying("utimensat", path) { utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) }
    }

    /// Renames atomically, replacing a file (not a non-empty directory) at `destination`.
    public static func rename(_ source: String, to destination: String) throws {
        try SystemCall.retrying("rename", source) { Glibc.rename(source, destination) }
    }

    /// Flushes the whole filesystem holding `path` (`syncfs`): what any plugin wrote there is durable.
    /// Falls back to `sync` where `syncfs` is not available.
    public static func syncFileSystem(of path: String) throws {
        guard let syncfs = Self.syncfs else {
            sync()
            return
        }
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try SystemCall.retrying("syncfs", path) { syncfs(fd) }
    }

    /// glibc's `syncfs`, looked up by name (it is declared only under `_GNU_SOURCE`).
    private static let syncfs: (@convention(c) (Int32) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "syncfs") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (Int32) -> Int32).self)
    }()

    /// Flushes a directory's entries to disk, so a rename inside it survives a crash.
    public static func syncDirectory(_ path: String) throws {
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        defer { close(fd) }
        try SystemCall.retrying("fsync", path) { fsync(fd) }
    }

    /// Writes `data` to `path` atomically: a temporary file in the same directory, fsync, rename.
    public static func writeAtomically(_ data: Data, to path: String, mode: mode_t = 0o600) throws {
        let directory = (path as NSString).deletingLastPathComponent
        let temporary = directory + "/.tmp-" + UUID().uuidString + "-" + (path as NSString).lastPathComponent
        let output = try FileDescriptorStream.create(temporary, mode: mode)
        do {
            try data.withUnsafeBytes { try output.write($0) }
            try output.finish()
            try rename(temporary, to: path)
        } catch {
            output.closeQuietly()
            unlink(temporary)
            throw error
        }
        try syncDirectory(directory.isEmpty ? "." : directory)
    }

    /// Bytes available to an unprivileged writer on the filesystem holding `path`.
    public static func freeBytes(at path: String) throws -> UInt64 {
        var info = statvfs()
        guard statvfs(path, &info) == 0 else { throw SystemCall.error("statvfs", path) }
        let (free, overflow) = UInt64(info.f_bavail).multipliedReportingOverflow(by: UInt64(info.f_frsize))
        return overflow ? UInt64.max : free
    }

    /// Reads a whole small file out of a staging tree, which came from a backup or a plugin and is not
    /// trusted: the last component is never followed (`O_NOFOLLOW`), the open never waits
    /// (`O_NONBLOCK`: a FIFO would block it for good), and only a regular file is read.
    public static func readStagedFile(_ path: String, limit: Int = 16 << 20) throws -> Data {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ELOOP { throw BackupError(.unsafeArchive, "staged \(path) is a symlink; a staged file is read only as itself") }
            throw SystemCall.error("open", path)
        }
        let input = FileDescriptorStream(fd: fd, label: path)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemCall.error("fstat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            let kind = switch info.st_mode & S_IFMT {
            case S_IFIFO: "a FIFO"
            case S_IFDIR: "a directory"
            case S_IFSOCK: "a socket"
            default: "a device"
            }
            throw BackupError(.unsafeArchive, "staged \(path) is not a regular file but \(kind)")
        }
        _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK)
        return try Self.readAll(input, path: path, limit: limit)
    }

    /// Reads a whole small file (manifests, status, descriptors).
    public static func readFile(_ path: String, limit: Int = 16 << 20) throws -> Data {
        // Reading state and configuration must write nothing (see `openForReadingWithoutAccessTime`).
        let input = try FileDescriptorStream.openForReadingWithoutAccessTime(path)
        return try Self.readAll(input, path: path, limit: limit)
    }

    /// Everything `input` holds, at most `limit` bytes (more is an error naming `path`).
    private static func readAll(_ input: FileDescriptorStream, path: String, limit: Int) throws -> Data {
        var data = Data()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 64 << 10, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try input.read(into: buffer)
            if count == 0 { return data }
            data.append(contentsOf: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            if data.count > limit { throw BackupError(.invalidInput, "\(path) is larger than \(limit) bytes") }
        }
    }
}

import BackupModel
import Glibc

/// What a tree holds, path by path: kind, mode, owner, size and content digest of files, the target
/// of links, and, when asked, modification times. Compared by `TreeComparison` (a restore's preview,
/// `gwbackup diff`) and by the plugin kit (`TreeFingerprint`).
///
/// The trees are staged by plugins and extracted from backups: the walk goes from descriptor to
/// descriptor with `O_NOFOLLOW` and never resolves a path, so a link, even in place of the root, is
/// recorded as a link and never followed; files are opened `O_NONBLOCK` and read only when `fstat`
/// says they are regular (a FIFO cannot hold the walk), each at most `fileLimit` bytes.
public struct TreeInventory: Sendable, Equatable {
    /// One path of the tree.
    public struct Entry: Sendable, Equatable, Hashable {
        public var kind: FileStatus.Kind
        public var mode: UInt32
        public var uid: UInt32
        public var gid: UInt32
        /// Regular files: size and SHA-256 (lowercase hex).
        public var size: UInt64?
        public var sha256: String?
        /// Symlinks: the target, as stored (never resolved).
        public var target: String?
        /// Regular files and links, when the inventory was taken with times.
        public var mtime: String?
    }

    /// Every path below the root (relative, `/`-separated), but those `ignoring` left out.
    public private(set) var entries: [String: Entry]
    /// The most bytes read of one file.
    public static let fileLimit = 256 << 20
    /// The most entries one walk records: a staged component is bounded far below this.
    public static let entryLimit = 1_000_000

    /// Walks `root`; a root that does not exist is an empty tree. `ignoring` is asked of each relative
    /// path before it is read (an ignored directory is not entered).
    public init(_ root: String, times: Bool = false, ignoring: (String) -> Bool = { _ in false }) throws {
        self.entries = [:]
        guard let status = try FileStatus.of(root) else { return }
        guard status.kind == .directory else {
            throw BackupError(.pluginFailed, "\(SafeText.escaped(root)) is a \(status.kind == .symlink ? "symlink" : "file"), not a directory: no link is followed")
        }
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw SystemCall.error("open", root) }
        defer { close(fd) }
        try self.walk(fd, root: root, relative: "", times: times, ignoring: ignoring)
    }

    private mutating func walk(_ directory: Int32, root: String, relative: String, times: Bool, ignoring: (String) -> Bool) throws {
        for name in try FileTree.names(ofDescriptor: directory, label: root + "/" + relative) {
            let path = relative.isEmpty ? name : relative + "/" + name
            if ignoring(path) { continue }
            guard self.entries.count < Self.entryLimit else {
                throw BackupError(.invalidInput, "\(SafeText.escaped(root)) holds more than \(Self.entryLimit) entries")
            }
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { continue }
                throw SystemCall.error("fstatat", root + "/" + path)
            }
            let status = FileStatus(info)
            var entry = Entry(kind: status.kind, mode: status.mode, uid: status.uid, gid: status.gid)
            let time = times ? "\(status.mtimeSeconds).\(status.mtimeNanoseconds)" : nil
            switch status.kind {
            case .regular:
                entry.size = status.size
                entry.sha256 = try Self.digest(directory, name, display: root + "/" + path)
                entry.mtime = time
            case .symlink:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let length = readlinkat(directory, name, &buffer, buffer.count - 1)
                guard length >= 0 else { throw SystemCall.error("readlinkat", root + "/" + path) }
                entry.target = String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
                // A link's own mode and owner mean nothing on Linux: only its target counts.
                entry.mode = 0
                entry.uid = 0
                entry.gid = 0
                entry.mtime = time
            case .directory:
                self.entries[path] = entry
                let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                // Swapped for something else since fstatat: recorded as it was, not followed.
                guard child >= 0 else { continue }
                defer { close(child) }
                try self.walk(child, root: root, relative: path, times: times, ignoring: ignoring)
                continue
            case .other:
                break
            }
            self.entries[path] = entry
        }
    }

    /// The SHA-256 of the regular file `name` in `directory`, opened without following a link and
    /// without blocking; a file swapped for anything else since it was listed is refused.
    private static func digest(_ directory: Int32, _ name: String, display: String) throws -> String {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw BackupError(.pluginFailed, "\(SafeText.escaped(display)) cannot be opened as a regular file (errno \(errno))") }
        let stream = FileDescriptorStream(fd: fd, label: display)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw BackupError(.pluginFailed, "\(SafeText.escaped(display)) is no longer a regular file")
        }
        let hashing = HashingSource(LimitedSource(stream, limit: UInt64(Self.fileLimit)))
        _ = try hashing.copy(to: NullSink())
        return hashing.hexDigest()
    }
}

import BackupCore
import Crypto
import Foundation

/// What a tree holds, path by path, for comparing two trees: kind, mode, owner, content (SHA-256)
/// and, when asked, the modification time of files and links.
///
/// The trees are a plugin's (its staging directory, the root copy it ran on): the walk goes from
/// descriptor to descriptor with `O_NOFOLLOW` and never resolves a path, so a link the plugin made,
/// even in place of the tree's root, is recorded as a link and never followed; files are opened
/// `O_NONBLOCK` and read only when `fstat` says they are regular (a FIFO cannot hold the kit).
struct TreeFingerprint: Equatable {
    var entries: [String: String]
    /// The most bytes read of one file.
    static let fileLimit = 256 << 20

    init(_ root: String, times: Bool, ignoring: (String) -> Bool = { _ in false }) throws {
        self.entries = [:]
        guard let status = try FileStatus.of(root) else { return }
        guard status.kind == .directory else {
            throw BackupError(.pluginFailed, "\(root) is a \(status.kind == .symlink ? "symlink" : "file"), not a directory: the kit follows no link a plugin made")
        }
        let fd = open(root, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw BackupError(.pluginFailed, "\(root) cannot be opened as a directory without following a link (errno \(errno))") }
        defer { close(fd) }
        try self.walk(fd, root: root, relative: "", times: times, ignoring: ignoring)
    }

    private mutating func walk(_ directory: Int32, root: String, relative: String, times: Bool, ignoring: (String) -> Bool) throws {
        for name in try FileTree.names(ofDescriptor: directory, label: root + "/" + relative) {
            let path = relative.isEmpty ? name : relative + "/" + name
            if ignoring(path) { continue }
            var info = stat()
            guard fstatat(directory, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
                if errno == ENOENT { continue }
                throw BackupError(.system, "fstatat \(root)/\(path): errno \(errno)")
            }
            let status = FileStatus(info)
            var line = "\(status.kind) mode=\(String(status.mode, radix: 8)) owner=\(status.uid):\(status.gid)"
            switch status.kind {
            case .regular:
                line += " size=\(status.size) sha256=\(try Self.digest(directory, name, display: root + "/" + path))"
                if times { line += " mtime=\(status.mtimeSeconds).\(status.mtimeNanoseconds)" }
            case .symlink:
                var buffer = [CChar](repeating: 0, count: Int(PATH_MAX) + 1)
                let length = readlinkat(directory, name, &buffer, buffer.count - 1)
                guard length >= 0 else { throw BackupError(.system, "readlinkat \(root)/\(path): errno \(errno)") }
                line = "symlink -> \(String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self))"
            case .directory:
                self.entries[path] = line
                let child = openat(directory, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                // Swapped for something else since fstatat: recorded as it was, not followed.
                guard child >= 0 else { continue }
                defer { close(child) }
                try self.walk(child, root: root, relative: path, times: times, ignoring: ignoring)
                continue
            case .other:
                break
            }
            self.entries[path] = line
        }
    }

    /// The SHA-256 of the regular file `name` in `directory`, opened without following a link and
    /// without blocking; a file swapped for anything else since it was listed is refused.
    private static func digest(_ directory: Int32, _ name: String, display: String) throws -> String {
        let fd = openat(directory, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        guard fd >= 0 else { throw BackupError(.pluginFailed, "\(display) cannot be opened as a regular file (errno \(errno))") }
        let stream = FileDescriptorStream(fd: fd, label: display)
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw BackupError(.pluginFailed, "\(display) is no longer a regular file")
        }
        let hashing = HashingSource(LimitedSource(stream, limit: UInt64(Self.fileLimit)))
        _ = try hashing.copy(to: NullSink())
        return hashing.hexDigest()
    }

    /// The paths that differ, for a message: at most `limit`, each with what changed.
    func differences(to other: TreeFingerprint, limit: Int = 5) -> String {
        var lines: [String] = []
        for path in Set(self.entries.keys).union(other.entries.keys).sorted() where self.entries[path] != other.entries[path] {
            switch (self.entries[path], other.entries[path]) {
            case (nil, _): lines.append("\(path) appeared")
            case (_, nil): lines.append("\(path) disappeared")
            default: lines.append("\(path) changed")
            }
            if lines.count == limit { lines.append("…"); break }
        }
        return lines.joined(separator: ", ")
    }
}

import BackupModel
import Glibc

/// What `lstat` tells apart of one version of a file: its inode, size, and modification and change
/// times. A file replaced by a rename has a new inode; one edited in place a new ctime, which, unlike
/// the mtime, no one can set back. Whoever keeps something derived from a file (the API's status
/// answers, its verified credentials) compares identities, a `stat` per use, instead of reading the
/// file again.
public struct FileIdentity: Equatable, Sendable {
    public var inode: UInt64
    public var size: Int64
    public var modified: (seconds: Int, nanoseconds: Int)
    public var changed: (seconds: Int, nanoseconds: Int)

    public init(inode: UInt64, size: Int64, modified: (seconds: Int, nanoseconds: Int), changed: (seconds: Int, nanoseconds: Int)) {
        self.inode = inode
        self.size = size
        self.modified = modified
        self.changed = changed
    }

    /// The identity of the file at `path` (not following a final link), or nil when there is none
    /// (or it cannot be read).
    public static func of(_ path: String) -> FileIdentity? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return FileIdentity(
            inode: UInt64(info.st_ino), size: Int64(info.st_size),
            modified: (info.st_mtim.tv_sec, info.st_mtim.tv_nsec), changed: (info.st_ctim.tv_sec, info.st_ctim.tv_nsec))
    }

    public static func == (lhs: FileIdentity, rhs: FileIdentity) -> Bool {
        lhs.inode == rhs.inode && lhs.size == rhs.size && lhs.modified == rhs.modified && lhs.changed == rhs.changed
    }
}

import BackupModel
import Glibc

/// What `lstat` says of a path: the metadata a backup keeps.
public struct FileStatus: Sendable, Equatable {
    /// The kinds of entries a backup keeps.
    public enum Kind: Sendable, Equatable {
        case regular, directory, symlink, other
    }

    public var kind: Kind
    /// Permission bits, including setuid, setgid and sticky.
    public var mode: UInt32
    public var uid: UInt32
    public var gid: UInt32
    public var size: UInt64
    public var mtimeSeconds: Int64
    public var mtimeNanoseconds: Int64

    public init(kind: Kind, mode: UInt32, uid: UInt32, gid: UInt32, size: UInt64, mtimeSeconds: Int64, mtimeNanoseconds: Int64 = 0) {
        self.kind = kind
        self.mode = mode
        self.uid = uid
        self.gid = gid
        self.size = size
        self.mtimeSeconds = mtimeSeconds
        self.mtimeNanoseconds = mtimeNanoseconds
    }

    /// The status `lstat`, `fstat` or `fstatat` filled in.
    public init(_ info: stat) {
        switch info.st_mode & S_IFMT {
        case S_IFREG: self.kind = .regular
        case S_IFDIR: self.kind = .directory
        case S_IFLNK: self.kind = .symlink
        default: self.kind = .other
        }
        self.mode = UInt32(info.st_mode & 0o7777)
        self.uid = info.st_uid
        self.gid = info.st_gid
        self.size = UInt64(info.st_size)
        self.mtimeSeconds = Int64(info.st_mtim.tv_sec)
        self.mtimeNanoseconds = Int64(info.st_mtim.tv_nsec)
    }

    /// The status of `path` without following a final symlink; nil when nothing is there.
    public static func of(_ path: String) throws -> FileStatus? {
        var info = stat()
        if lstat(path, &info) != 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw SystemCall.error("lstat", path)
        }
        return FileStatus(info)
    }
}

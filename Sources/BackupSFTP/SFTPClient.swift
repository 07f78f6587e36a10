import BackupCore
import BackupModel
import BackupPOSIX
import CSSH2
import Foundation

/// An SFTP channel over an `SSHSession`: the file operations the SFTP store needs.
/// Holds its session (a child keeps its parent alive). Blocking; one thread at a time.
final class SFTPClient {
    let session: SSHSession
    let handle: OpaquePointer

    /// A directory entry.
    struct Entry {
        var name: String
        var isDirectory: Bool
        var isRegularFile: Bool
        var size: UInt64
        /// Modification time, epoch seconds, when the server sent one.
        var modified: Int64?
    }

    init(_ endpoint: SSHEndpoint) throws {
        self.session = try SSHSession(endpoint)
        guard let sftp = libssh2_sftp_init(self.session.handle) else {
            throw SSH2.error("libssh2_sftp_init (is the SFTP subsystem enabled on the server?)", session: self.session.handle)
        }
        self.handle = sftp
    }

    deinit {
        libssh2_sftp_shutdown(self.handle)
    }

    func error(_ call: String, _ path: String) -> BackupError {
        self.failure(call, path).error
    }

    /// The error of a failed call with the server's SFTP status, for callers that act on it.
    func failure(_ call: String, _ path: String) -> (error: BackupError, status: SFTPStatus?) {
        SSH2.sftpFailure(call, path: path, session: self.session.handle, sftp: self.handle)
    }

    /// The entry at `path` without following a final symlink, or nil when there is none.
    func stat(_ path: String) throws -> Entry? {
        var attributes = LIBSSH2_SFTP_ATTRIBUTES()
        guard cssh2_sftp_lstat(self.handle, path, &attributes) == 0 else {
            let (error, status) = self.failure("stat", path)
            if status?.meansMissing == true { return nil }
            throw error
        }
        return Self.entry(name: (path as NSString).lastPathComponent, attributes)
    }

    /// Creates `path` and missing parents (0700).
    func makeDirectories(_ path: String) throws {
        if let entry = try self.stat(path) {
            guard entry.isDirectory else { throw BackupError(.storage, "\(path) on the remote host exists and is not a directory") }
            return
        }
        let parent = (path as NSString).deletingLastPathComponent
        if !parent.isEmpty && parent != path && parent != "/" { try self.makeDirectories(parent) }
        guard cssh2_sftp_mkdir(self.handle, path, 0o700) == 0 else {
            let error = self.error("mkdir", path)
            // Another client may have made it in between.
            if try self.stat(path)?.isDirectory == true { return }
            throw error
        }
    }

    /// The most entries a listing may return: a server that claims more is refused, not believed.
    static let listingLimit = 100_000
    /// The longest name kept from a listing (a file name's limit on Linux file systems).
    static let nameLimit = 255
    /// The most bytes of names a listing may hold.
    static let listingBytesLimit = 8 << 20
    /// How deep `removeTree` goes: a server claiming an endless tree cannot overflow the stack.
    static let depthLimit = 64

    /// The names in a directory, with their kinds. A name too long for any file system (the server's
    /// claim) is skipped, not a reason to fail the whole listing.
    func list(_ path: String) throws -> [Entry] {
        guard let directory = cssh2_sftp_open(self.handle, path, 0, 0, cssh2_open_dir()) else {
            throw self.error("opendir", path)
        }
        defer { libssh2_sftp_close_handle(directory) }
        var entries: [Entry] = []
        var buffer = [CChar](repeating: 0, count: 4096)
        var skipped = 0
        var listedBytes = 0
        while true {
            var attributes = LIBSSH2_SFTP_ATTRIBUTES()
            let length = cssh2_sftp_readdir(directory, &buffer, buffer.count, &attributes)
            if length == 0 { break }
            if length == Int32(LIBSSH2_ERROR_BUFFER_TOO_SMALL) {
                skipped += 1
                guard skipped <= Self.listingLimit else { throw BackupError(.storage, "\(path) on the remote host keeps sending names too long to use") }
                continue
            }
            guard length > 0, Int(length) <= buffer.count else { throw self.error("readdir", path) }
            guard entries.count < Self.listingLimit else {
                throw BackupError(.storage, "\(path) on the remote host lists more than \(Self.listingLimit) entries; refusing to read further")
            }
            // No backup's name is longer than a file name may be: longer ones are not kept (a listing is
            // bounded in bytes as well as in entries).
            guard Int(length) <= Self.nameLimit else {
                skipped += 1
                guard skipped <= Self.listingLimit else { throw BackupError(.storage, "\(path) on the remote host keeps sending names too long to use") }
                continue
            }
            listedBytes += Int(length)
            guard listedBytes <= Self.listingBytesLimit else {
                throw BackupError(.storage, "\(path) on the remote host lists more than \(Self.listingBytesLimit) bytes of names; refusing to read further")
            }
            let name = String(decoding: buffer[0..<Int(length)].map { UInt8(bitPattern: $0) }, as: UTF8.self)
            if name == "." || name == ".." { continue }
            entries.append(Self.entry(name: name, attributes))
        }
        return entries.sorted { $0.name < $1.name }
    }

    /// Renames `source` to `destination`, which must not exist (SFTP v3 semantics).
    func rename(_ source: String, to destination: String) throws {
        guard cssh2_sftp_rename(self.handle, source, destination) == 0 else { throw self.error("rename", source) }
    }

    /// Removes a file or a directory tree, at most `depthLimit` levels deep.
    func removeTree(_ path: String, depth: Int = 0) throws {
        guard let entry = try self.stat(path) else { return }
        if entry.isDirectory {
            guard depth < Self.depthLimit else {
                throw BackupError(.storage, "\(path) on the remote host is nested more than \(Self.depthLimit) levels deep; not removed")
            }
            for child in try self.list(path) where !child.name.contains("/") {
                try self.removeTree(path + "/" + child.name, depth: depth + 1)
            }
            guard cssh2_sftp_rmdir(self.handle, path) == 0 else { throw self.error("rmdir", path) }
        } else {
            guard cssh2_sftp_unlink(self.handle, path) == 0 else { throw self.error("unlink", path) }
        }
    }

    /// Opens a file for reading.
    func openForReading(_ path: String) throws -> SFTPFileStream {
        guard let file = cssh2_sftp_open(self.handle, path, UInt(LIBSSH2_FXF_READ), 0, cssh2_open_file()) else {
            throw self.error("open", path)
        }
        return SFTPFileStream(client: self, handle: file, path: path)
    }

    /// Creates a file (which must not exist) for writing, mode 0600.
    func create(_ path: String) throws -> SFTPFileStream {
        let flags = UInt(LIBSSH2_FXF_WRITE | LIBSSH2_FXF_CREAT | LIBSSH2_FXF_EXCL)
        guard let file = cssh2_sftp_open(self.handle, path, flags, 0o600, cssh2_open_file()) else {
            throw self.error("create", path)
        }
        return SFTPFileStream(client: self, handle: file, path: path)
    }

    private static func entry(name: String, _ attributes: LIBSSH2_SFTP_ATTRIBUTES) -> Entry {
        let type = attributes.permissions & UInt(LIBSSH2_SFTP_S_IFMT)
        return Entry(
            name: name,
            isDirectory: type == UInt(LIBSSH2_SFTP_S_IFDIR),
            isRegularFile: type == UInt(LIBSSH2_SFTP_S_IFREG),
            size: attributes.filesize,
            modified: attributes.flags & UInt(LIBSSH2_SFTP_ATTR_ACMODTIME) != 0 ? Int64(truncatingIfNeeded: attributes.mtime) : nil)
    }
}

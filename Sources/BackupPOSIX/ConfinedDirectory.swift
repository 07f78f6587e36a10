import BackupModel
import Foundation
import Glibc

/// A directory tree changed only through descriptors: every path below it is walked one component at
/// a time with `openat(O_NOFOLLOW)`, so a symlink in an intermediate component, wherever it came from
/// (the appliance, or an earlier component of the same restore), cannot redirect a write or a removal
/// out of the tree. The effect of Linux `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS`, the
/// way libarchive's `ARCHIVE_EXTRACT_SECURE_SYMLINKS` gets it. A final symlink is replaced or
/// removed as a link, never followed.
///
/// Each change is a rename, so a crash leaves the old entry or the new one; making the changes
/// durable is the caller's: a restore syncs the file system before its journal calls a component
/// applied, and after a rollback before the journal closes (one sync per component rather than an
/// fsync of the directory per entry).
public final class ConfinedDirectory {
    /// The tree's root, for messages.
    public let path: String
    private let descriptor: Descriptor
    /// How deep a removal may recurse.
    package static let depthLimit = 256

    /// Opens `path`, which must be a directory. The root itself is the operator's setting and may be
    /// reached through a symlink; nothing below it is.
    public init(path: String) throws {
        let fd = try SystemCall.retrying("open", path) { open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC) }
        self.descriptor = Descriptor(fd)
        self.path = path
    }

    /// The status of `relative` (a final symlink is not followed), or nil when nothing is there.
    public func status(_ relative: String) throws -> FileStatus? {
        guard let (parent, name) = try self.parent(of: relative, create: false) else { return nil }
        var info = stat()
        guard fstatat(parent.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return nil }
            throw SystemCall.error("fstatat", self.display(relative))
        }
        return FileStatus(info)
    }

    /// Removes `relative` and everything below it; missing is fine.
    public func remove(_ relative: String) throws {
        guard let (parent, name) = try self.parent(of: relative, create: false) else { return }
        try Self.removeTree(parent: parent.fd, name: name, display: self.display(relative), depth: 0)
    }

    /// Creates the directory `relative` and whatever is missing above it (0755, owned by this
    /// process's user), never through a symlink; returns the directories it created, outermost first.
    @discardableResult
    public func makeDirectories(_ relative: String) throws -> [String] {
        guard let normalized = RelativePath.normalized(relative) else {
            throw BackupError(.unsafeArchive, "'\(SafeText.escaped(relative, limit: 200))' \(RelativePath.problem(relative) ?? "is unsafe")")
        }
        var created: [String] = []
        var walked = ""
        for component in normalized.split(separator: "/") {
            walked += (walked.isEmpty ? "" : "/") + component
            if try self.status(walked) == nil {
                guard let (parent, name) = try self.parent(of: walked, create: false) else { break }
                if mkdirat(parent.fd, name, 0o755) == 0 {
                    created.append(walked)
                    _ = fchmodat(parent.fd, name, 0o755, 0)
                } else if errno != EEXIST {
                    throw SystemCall.error("mkdir", self.display(walked))
                }
            } else if try self.status(walked)?.kind != .directory {
                throw BackupError(.unsafeArchive, "\(self.display(walked)) is not a directory")
            }
        }
        return created
    }

    /// Gives the directory `relative` this owner and mode (setuid and setgid dropped), reached
    /// without following a symlink; a missing or non-directory entry is left alone.
    public func setDirectoryOwnerAndMode(_ relative: String, uid: UInt32, gid: UInt32, mode: UInt32) throws {
        guard let (parent, name) = try self.parent(of: relative, create: false) else { return }
        var info = stat()
        guard fstatat(parent.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFDIR else { return }
        if fchownat(parent.fd, name, uid, gid, AT_SYMLINK_NOFOLLOW) != 0 { throw SystemCall.error("chown", self.display(relative)) }
        if fchmodat(parent.fd, name, mode_t(mode & 0o1777), 0) != 0 { throw SystemCall.error("chmod", self.display(relative)) }
    }

    /// Removes the directory `relative` if it exists and is empty; leaves it (and anything else) alone
    /// otherwise.
    public func removeEmptyDirectory(_ relative: String) throws {
        guard let (parent, name) = try self.parent(of: relative, create: false) else { return }
        var info = stat()
        guard fstatat(parent.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0, info.st_mode & S_IFMT == S_IFDIR else { return }
        if unlinkat(parent.fd, name, AT_REMOVEDIR) != 0 && errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT {
            throw SystemCall.error("rmdir", self.display(relative))
        }
    }

    /// Puts the staged `source` (a file, link or tree of this machine's staging area) at `relative`,
    /// replacing what is there with renames, so a crash leaves the old or the new entry, never half of
    /// one. Missing parents are created (0755). The parent directory is fsynced.
    /// A parent directory that does not exist is created with the mode (setuid and setgid dropped)
    /// and owner `parentTemplate` gives for it (the staged copy of that directory), else 0755: a
    /// restore onto a fresh root must not leave a secret's 0700 directory readable by everyone.
    public func install(_ relative: String, from source: String, parentTemplate: (String) -> FileStatus? = { _ in nil }) throws {
        guard let (parent, name) = try self.parent(of: relative, create: true, template: parentTemplate) else {
            throw BackupError(.system, "cannot reach the parent of \(self.display(relative))")
        }
        let suffix = UUID().uuidString.prefix(8)
        let temporary = ".gwbackup-new-\(suffix)"
        // Staged data is used once: move it when staging shares the filesystem, copy it otherwise.
        if renameat(AT_FDCWD, source, parent.fd, temporary) != 0 {
            guard errno == EXDEV else { throw SystemCall.error("rename", source) }
            do {
                // /proc/self/fd/N names the parent by its descriptor: no path walk to redirect.
                try FileTree.copy(source, to: "/proc/self/fd/\(parent.fd)/\(temporary)")
            } catch {
                try? Self.removeTree(parent: parent.fd, name: temporary, display: temporary, depth: 0)
                throw error
            }
        }
        // The temporary holds restored (often secret) data: it never stays behind a failed rename.
        do {
            var info = stat(), new = stat()
            let exists = fstatat(parent.fd, name, &info, AT_SYMLINK_NOFOLLOW) == 0
            let newIsDirectory = fstatat(parent.fd, temporary, &new, AT_SYMLINK_NOFOLLOW) == 0 && new.st_mode & S_IFMT == S_IFDIR
            // rename(2) replaces a file with a file, never a directory or with one: those go aside first.
            if exists && (info.st_mode & S_IFMT == S_IFDIR || newIsDirectory) {
                let old = ".gwbackup-old-\(suffix)"
                try SystemCall.retrying("rename", self.display(relative)) { renameat(parent.fd, name, parent.fd, old) }
                do {
                    try SystemCall.retrying("rename", self.display(relative)) { renameat(parent.fd, temporary, parent.fd, name) }
                } catch {
                    // Put the old directory back where it was.
                    _ = renameat(parent.fd, old, parent.fd, name)
                    throw error
                }
                try Self.removeTree(parent: parent.fd, name: old, display: self.display(relative), depth: 0)
            } else {
                try SystemCall.retrying("rename", self.display(relative)) { renameat(parent.fd, temporary, parent.fd, name) }
            }
        } catch {
            try? Self.removeTree(parent: parent.fd, name: temporary, display: temporary, depth: 0)
            throw error
        }
    }

    /// The directory holding `relative`, opened without following any symlink on the way, and the
    /// final name. Nil when a parent is missing and `create` is false.
    private func parent(of relative: String, create: Bool, template: (String) -> FileStatus? = { _ in nil }) throws -> (Descriptor, String)? {
        guard let normalized = RelativePath.normalized(relative) else {
            throw BackupError(.unsafeArchive, "'\(SafeText.escaped(relative, limit: 200))' \(RelativePath.problem(relative) ?? "is unsafe")")
        }
        var components = normalized.split(separator: "/").map(String.init)
        let name = components.removeLast()
        var current = self.descriptor
        var walked = ""
        for component in components {
            walked += (walked.isEmpty ? "" : "/") + component
            var fd = openat(current.fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd < 0 && errno == ENOENT {
                guard create else { return nil }
                if mkdirat(current.fd, component, 0o700) == 0 {
                    let model = template(walked).flatMap { $0.kind == .directory ? $0 : nil }
                    _ = fchownat(current.fd, component, model?.uid ?? geteuid(), model?.gid ?? getegid(), AT_SYMLINK_NOFOLLOW)
                    if fchmodat(current.fd, component, mode_t(model.map { $0.mode & 0o1777 } ?? 0o755), 0) != 0 {
                        throw SystemCall.error("chmod", self.display(walked))
                    }
                } else if errno != EEXIST {
                    throw SystemCall.error("mkdir", self.display(walked))
                }
                fd = openat(current.fd, component, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            }
            guard fd >= 0 else {
                let code = errno
                var info = stat()
                if fstatat(current.fd, component, &info, AT_SYMLINK_NOFOLLOW) == 0 {
                    if info.st_mode & S_IFMT == S_IFLNK {
                        throw BackupError(.unsafeArchive, "\(self.display(relative)) would be reached through the symlink \(self.display(walked)); a restore never follows one")
                    }
                    if info.st_mode & S_IFMT != S_IFDIR {
                        throw BackupError(.unsafeArchive, "\(self.display(relative)) is below \(self.display(walked)), which is not a directory")
                    }
                }
                throw SystemCall.error("open", self.display(walked), errno: code)
            }
            current = Descriptor(fd)
        }
        return (current, name)
    }

    private func display(_ relative: String) -> String {
        SafeText.escaped(FileTree.join(self.path, relative), limit: 300)
    }

    private static func removeTree(parent: Int32, name: String, display: String, depth: Int) throws {
        var info = stat()
        guard fstatat(parent, name, &info, AT_SYMLINK_NOFOLLOW) == 0 else {
            if errno == ENOENT { return }
            throw SystemCall.error("fstatat", display)
        }
        guard info.st_mode & S_IFMT == S_IFDIR else {
            try SystemCall.retrying("unlink", display) { unlinkat(parent, name, 0) }
            return
        }
        guard depth < depthLimit else {
            throw BackupError(.system, "\(display) is nested more than \(depthLimit) levels deep; not removed")
        }
        let fd = try SystemCall.retrying("open", display) { openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC) }
        let directory = Descriptor(fd)
        for child in try Self.names(directory.fd, display: display) {
            try removeTree(parent: directory.fd, name: child, display: display + "/" + SafeText.escaped(child, limit: 100), depth: depth + 1)
        }
        try SystemCall.retrying("rmdir", display) { unlinkat(parent, name, AT_REMOVEDIR) }
    }

    private static func names(_ fd: Int32, display: String) throws -> [String] {
        let copy = try SystemCall.retrying("dup", display) { dup(fd) }
        guard let handle = fdopendir(copy) else {
            close(copy)
            throw SystemCall.error("fdopendir", display)
        }
        defer { closedir(handle) }
        return FileTree.names(reading: handle)
    }

    /// One owner for an open descriptor.
    private final class Descriptor {
        package let fd: Int32
        package init(_ fd: Int32) { self.fd = fd }
        deinit { close(self.fd) }
    }
}

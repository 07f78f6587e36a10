import BackupModel
import Foundation
import Glibc

/// The ownership rule for files that can make gwbackup run code or decide what it trusts (plugin
/// descriptors and executables, manifests, `serve.json`, credentials and users files): the file and
/// every directory above it, up to `/`, belong to root or to the user gwbackup runs as, and nobody
/// else can write them, as sshd's `StrictModes` and sudo demand. A world-writable directory is allowed
/// only when it is root's and sticky (`/tmp`): there nobody can rename or remove another's entries.
/// Whoever could change one of these files or swap one of these directories would run code as root.
public enum TrustedPath {
    /// Throws unless `path` (after resolving its links) and every directory above it obey the rule;
    /// `what` names the file in the error ("manifest", "plugin executable", …).
    public static func check(_ path: String, what: String) throws {
        guard let resolved = realpath(path, nil) else {
            throw BackupError(.invalidInput, "\(what) \(path) cannot be resolved (errno \(errno))")
        }
        let real = String(cString: resolved)
        free(resolved)
        var current = real
        while true {
            guard let status = try FileStatus.of(current) else {
                throw BackupError(.invalidInput, "\(what) \(path): \(current) disappeared while it was checked")
            }
            if let problem = Self.problem(status) {
                throw BackupError(.invalidInput, "\(what) \(path): \(current) \(problem); refusing a file that someone else could change")
            }
            if current == "/" || current.isEmpty { break }
            current = (current as NSString).deletingLastPathComponent
        }
    }

    /// Why `status` breaks the rule, or nil.
    package static func problem(_ status: FileStatus) -> String? {
        if status.uid != 0 && status.uid != geteuid() {
            return "belongs to user \(status.uid), neither root nor the user gwbackup runs as (\(geteuid()))"
        }
        let stickyRootDirectory = status.kind == .directory && status.uid == 0 && status.mode & 0o1000 != 0
        if status.mode & 0o022 != 0 && !stickyRootDirectory {
            return "can be written by others (mode \(String(status.mode & 0o7777, radix: 8)))"
        }
        return nil
    }
}

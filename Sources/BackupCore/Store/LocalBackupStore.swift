import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// Backups in a directory of this machine (`hostname: "localhost"`).
public struct LocalBackupStore: BackupStore {
    /// The backup path: each backup is a directory below it.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var displayName: String { "local \(SafeText.escaped(self.path, limit: 1000))" }

    public func location(of backup: String) -> String { self.path + "/" + backup }

    public func listEntries() throws -> [StoredEntry] {
        guard let status = try FileStatus.of(self.path) else {
            throw BackupError(.notFound, "backup path \(self.path) does not exist")
        }
        guard status.kind == .directory else { throw BackupError(.notFound, "backup path \(self.path) is not a directory") }
        return try FileTree.names(in: self.path).map { name in
            let entry = self.path + "/" + name
            let status = try FileStatus.of(entry)
            if let kind = StoredEntry.hiddenKind(of: name) { return StoredEntry(name: name, kind: kind, modified: status?.mtimeSeconds) }
            guard status?.kind == .directory else { return StoredEntry(name: name, kind: .foreign, modified: status?.mtimeSeconds) }
            // A rotation replacing `manifest.json` leaves its new one beside it for a moment.
            let hasIndex = try FileStatus.of(entry + "/" + BackupIndex.fileName)?.kind == .regular
                || FileStatus.of(entry + "/" + BackupIndex.pendingFileName)?.kind == .regular
            return StoredEntry(name: name, kind: hasIndex ? .complete : .incomplete, modified: status?.mtimeSeconds)
        }
    }

    public func beginBackup(name: String) throws -> any BackupWriter {
        try FileTree.makeDirectories(self.path, mode: 0o700)
        let final = self.path + "/" + name
        guard try FileStatus.of(final) == nil else { throw BackupError(.storage, "\(final) already exists") }
        let temporary = self.path + "/" + StoredEntry.temporaryPrefix + name
        try FileTree.remove(temporary)
        try FileTree.makePrivateDirectory(temporary)
        return LocalBackupWriter(temporary: temporary, final: final, parent: self.path)
    }

    public func readIndex(backup: String) throws -> [UInt8] {
        let source: FileDescriptorStream
        do {
            source = try self.openRegular(self.location(of: backup) + "/" + BackupIndex.fileName, backup: backup)
        } catch let error as BackupError where error.code == .notFound {
            // A rotation between removing the old plain manifest and renaming the new one into place.
            guard let pending = try? self.openRegular(self.location(of: backup) + "/" + BackupIndex.pendingFileName, backup: backup) else { throw error }
            source = pending
        }
        let sink = BoundedMemorySink(limit: SealedIndex.sizeLimit, what: "\(BackupIndex.fileName) of \(SafeText.escaped(backup))")
        _ = try LimitedSource(source, limit: UInt64(SealedIndex.sizeLimit) + 1).copy(to: sink)
        return sink.bytes
    }

    public func createFile(backup: String, file: String) throws -> any ByteSink {
        try Self.checkFileName(file, backup: backup)
        let path = self.location(of: backup) + "/" + file
        // Never through a link a store's owner planted under the new name.
        if try FileStatus.of(path) != nil { try FileTree.remove(path) }
        return try FileDescriptorStream.create(path, mode: 0o600)
    }

    public func removeFile(backup: String, file: String) throws {
        try Self.checkFileName(file, backup: backup)
        let path = self.location(of: backup) + "/" + file
        guard try FileStatus.of(path) != nil else { return }
        guard unlink(path) == 0 else { throw SystemCall.error("unlink", path) }
        try FileTree.syncDirectory(self.location(of: backup))
    }

    public func renameFile(backup: String, file: String, to newName: String) throws {
        try Self.checkFileName(file, backup: backup)
        try Self.checkFileName(newName, backup: backup)
        try FileTree.rename(self.location(of: backup) + "/" + file, to: self.location(of: backup) + "/" + newName)
        try FileTree.syncDirectory(self.location(of: backup))
    }

    public func fileNames(backup: String) throws -> [String] {
        try Self.checkFileName(BackupIndex.fileName, backup: backup)
        return try FileTree.names(in: self.location(of: backup))
    }

    public func deleteBackup(name: String) throws {
        guard !name.isEmpty, !name.contains("/"), !name.hasPrefix(".") else {
            throw BackupError(.invalidInput, "'\(SafeText.escaped(name))' is not a backup name")
        }
        let hidden = self.path + "/" + StoredEntry.deletingPrefix + name
        if try FileStatus.of(self.location(of: name)) != nil {
            try FileTree.rename(self.location(of: name), to: hidden)
            try FileTree.syncDirectory(self.path)
        }
        try FileTree.remove(hidden)
    }

    public func removeLeftover(entry: String) throws {
        guard StoredEntry.hiddenKind(of: entry) == .temporary, !entry.contains("/") else { return }
        try FileTree.remove(self.path + "/" + entry)
    }

    public func openComponent(backup: String, file: String) throws -> any ByteSource {
        try self.openRegular(self.location(of: backup) + "/" + file, backup: backup)
    }

    public func sizeOfComponent(backup: String, file: String) throws -> UInt64 {
        let stream = try self.openRegular(self.location(of: backup) + "/" + file, backup: backup)
        var info = stat()
        guard fstat(stream.fd, &info) == 0 else { throw SystemCall.error("fstat", file) }
        return UInt64(info.st_size)
    }

    /// Opens a file of a backup that must be a regular file: never through a symlink (`O_NOFOLLOW`), never
    /// a device or FIFO (`O_NONBLOCK` keeps a FIFO from blocking the open; `fstat` then refuses it).
    private func openRegular(_ path: String, backup: String) throws -> FileDescriptorStream {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
        let file = SafeText.escaped((path as NSString).lastPathComponent)
        guard fd >= 0 else {
            let code = errno
            if code == ENOENT {
                throw BackupError(.notFound, "\(file) is missing from backup \(SafeText.escaped(backup))")
            }
            if code == ELOOP {
                throw BackupError(.corrupted, "\(file) in backup \(SafeText.escaped(backup)) is a symlink, not a regular file; refusing it")
            }
            throw SystemCall.error("open", path, errno: code)
        }
        let stream = FileDescriptorStream(fd: fd, label: path)
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw SystemCall.error("fstat", path) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw BackupError(.corrupted, "\(file) in backup \(SafeText.escaped(backup)) is not a regular file; refusing it")
        }
        // Reads block from here on (the flag only mattered for the open).
        _ = fcntl(fd, F_SETFL, O_RDONLY)
        return stream
    }
}

/// A local backup being written under `.partial-NAME`, renamed to `NAME` on commit.
final class LocalBackupWriter: BackupWriter, @unchecked Sendable {
    private let temporary: String
    private let final: String
    private let parent: String

    init(temporary: String, final: String, parent: String) {
        self.temporary = temporary
        self.final = final
        self.parent = parent
    }

    func createComponent(file: String) throws -> any ByteSink {
        try FileDescriptorStream.create(self.temporary + "/" + file, mode: 0o600)
    }

    func commit(index: [UInt8]) throws {
        try FileTree.writeAtomically(Data(index), to: self.temporary + "/" + BackupIndex.fileName)
        try FileTree.rename(self.temporary, to: self.final)
        try FileTree.syncDirectory(self.parent)
    }

    func abort() {
        try? FileTree.remove(self.temporary)
    }
}

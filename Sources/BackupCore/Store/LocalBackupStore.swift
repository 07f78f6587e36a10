import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Backups in a directory of this machine (`hostname: "localhost"`).
public struct LocalBackupStore: BackupStore {
    /// The backup path: each backup is a directory below it.
    public let path: String

    public init(path: String) {
        self.path = path
    }

    public var displayName: String { "local \(self.path)" }

    public func location(of backup: String) -> String { self.path + "/" + backup }

    public func listEntries() throws -> [StoredEntry] {
        guard let status = try FileStatus.of(self.path) else {
            throw BackupError(.notFound, "backup path \(self.path) does not exist")
        }
        guard status.kind == .directory else { throw BackupError(.notFound, "backup path \(self.path) is not a directory") }
        return try FileTree.names(in: self.path).map { name in
            let entry = self.path + "/" + name
            if name.hasPrefix(StoredEntry.temporaryPrefix) { return StoredEntry(name: name, kind: .temporary) }
            guard try FileStatus.of(entry)?.kind == .directory else { return StoredEntry(name: name, kind: .foreign) }
            let hasIndex = try FileStatus.of(entry + "/" + BackupIndex.fileName)?.kind == .regular
            return StoredEntry(name: name, kind: hasIndex ? .complete : .incomplete)
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
        let path = self.location(of: backup) + "/" + BackupIndex.fileName
        return [UInt8](try FileTree.readFile(path, limit: 16 << 20))
    }

    public func openComponent(backup: String, file: String) throws -> any ByteSource {
        let path = self.location(of: backup) + "/" + file
        guard try FileStatus.of(path) != nil else {
            throw BackupError(.corrupted, "component file \(file) is missing from backup \(backup)")
        }
        return try FileDescriptorStream.openForReading(path)
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

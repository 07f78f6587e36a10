public import BackupCore
import BackupModel
import BackupPOSIX
public import Foundation
import Glibc

/// The archive format of backups: POSIX tar (ustar with pax extensions), readable by stock `tar`.
///
/// Extraction is defensive: every entry must stay inside the target directory. Absolute paths, `..`,
/// writing through a symlink (of the archive or already there), hard links and device files are
/// refused. A symlink is made as a link whatever it points to (`/etc/localtime` points to an
/// absolute path): it is never followed, neither to write below it nor to set its metadata.
public struct TarArchive: ArchiveFormat {
    public init() {}

    public func archive(directory: URL, to sink: any ByteSink) throws -> ArchiveSummary {
        // A plugin may have replaced its staging directory with a link to anywhere: never follow it.
        guard try FileStatus.of(directory.path)?.kind == .directory else {
            throw BackupError(.pluginFailed, "the staging directory \(directory.path) is not a directory (replaced by a symlink?); nothing was archived")
        }
        var writer = TarWriter(sink: sink)
        try writer.writeTree(root: directory.path)
        try writer.finish()
        return writer.summary
    }

    public func extract(from source: any ByteSource, into directory: URL, limits: ArchiveLimits) throws -> ArchiveSummary {
        try self.read(source, into: directory.path, limits: limits)
    }

    public func validate(from source: any ByteSource, limits: ArchiveLimits) throws -> ArchiveSummary {
        try self.read(source, into: nil, limits: limits)
    }

    /// Reads every entry, checking it; writes it below `root` unless `root` is nil. Stops with an error
    /// as soon as the archive holds more entries or content than `limits` allow.
    private func read(_ source: any ByteSource, into root: String?, limits: ArchiveLimits) throws -> ArchiveSummary {
        let reader = TarReader(source: source)
        var summary = ArchiveSummary(entryCount: 0, contentBytes: 0)
        var directories: [(String, FileStatus)] = []
        while let entry = try reader.next() {
            let header = entry.header
            // Stock tar writes the root itself as "./"; there is nothing to create for it.
            if header.name.split(separator: "/").allSatisfy({ $0 == "." }) && !header.name.isEmpty && entry.type == .directory {
                continue
            }
            guard let path = RelativePath.normalized(header.name) else {
                throw BackupError(.unsafeArchive, "archive entry '\(SafeText.escaped(header.name, limit: 200))' \(SafeText.escaped(RelativePath.problem(header.name) ?? "is unsafe", limit: 300)); nothing outside the target is written")
            }
            if let maximum = limits.entries, summary.entryCount >= maximum {
                throw BackupError(.corrupted, "the archive holds more than the \(maximum) entries its index recorded; extraction stopped")
            }
            if let maximum = limits.contentBytes, header.size > maximum - min(maximum, summary.contentBytes) {
                throw BackupError(.corrupted, "the archive holds more than the \(maximum) bytes of content its index recorded; extraction stopped")
            }
            let status = FileStatus(
                kind: .other, mode: header.mode & 0o7777, uid: header.uid, gid: header.gid, size: header.size,
                mtimeSeconds: header.mtime)
            if entry.type == .symlink, header.linkName.isEmpty {
                throw BackupError(.unsafeArchive, "archive entry '\(path)' is a symlink with an empty target")
            }
            let target = root.map { $0 + "/" + path }
            if let root { try Self.checkParents(of: path, root: root) }
            switch entry.type {
            case .directory:
                if let target {
                    if try FileStatus.of(target)?.kind != .directory {
                        try Self.removeExisting(target)
                        try SystemCall.retrying("mkdir", target) { mkdir(target, 0o700) }
                    }
                    var directoryStatus = status
                    directoryStatus.kind = .directory
                    directories.append((target, directoryStatus))
                }
            case .regular, .contiguous, nil:
                if let target {
                    try Self.removeExisting(target)
                    // Extraction only writes staging, which the restore makes durable with one
                    // filesystem sync before relying on it: no fsync per file, but the write-back
                    // starts now, while the next entries and components are decrypted.
                    let output = try FileDescriptorStream.create(target, mode: 0o600, flush: .startWriteback)
                    do {
                        try reader.readContent(into: output)
                        try output.finish()
                    } catch {
                        output.closeQuietly()
                        throw error
                    }
                    var fileStatus = status
                    fileStatus.kind = .regular
                    try FileTree.applyMetadata(fileStatus, to: target)
                } else {
                    try reader.readContent(into: NullSink())
                }
                let (total, overflow) = summary.contentBytes.addingReportingOverflow(header.size)
                guard !overflow else { throw BackupError(.corrupted, "the archive's content sizes add up beyond any file system") }
                summary.contentBytes = total
            case .symlink:
                if let target {
                    try Self.removeExisting(target)
                    try SystemCall.retrying("symlink", target) { symlink(header.linkName, target) }
                    var linkStatus = status
                    linkStatus.kind = .symlink
                    try FileTree.applyMetadata(linkStatus, to: target)
                }
            case .hardLink:
                throw BackupError(.unsafeArchive, "archive entry '\(path)' is a hard link, which backups never contain")
            default:
                throw BackupError(.unsafeArchive, "archive entry '\(path)' is a device or special file, which backups never contain")
            }
            summary.entryCount += 1
        }
        try reader.drain()
        // Directory modes and mtimes last, deepest first: writing children changed their mtimes.
        for (path, status) in directories.reversed() {
            try FileTree.applyMetadata(status, to: path)
        }
        return summary
    }

    /// Refuses an entry whose parent directories include a symlink (writing through it could land
    /// anywhere); creates missing parents privately.
    private static func checkParents(of path: String, root: String) throws {
        var current = root
        for component in path.split(separator: "/").dropLast() {
            current += "/" + component
            switch try FileStatus.of(current)?.kind {
            case nil:
                try SystemCall.retrying("mkdir", current) { mkdir(current, 0o700) }
            case .directory:
                continue
            case .symlink:
                throw BackupError(.unsafeArchive, "archive entry '\(path)' would be written through the symlink '\(current.dropFirst(root.count + 1))'")
            default:
                throw BackupError(.unsafeArchive, "archive entry '\(path)' is below '\(current.dropFirst(root.count + 1))', which is not a directory")
            }
        }
    }

    private static func removeExisting(_ path: String) throws {
        guard let existing = try FileStatus.of(path) else { return }
        if existing.kind == .directory {
            throw BackupError(.unsafeArchive, "archive entry '\(path)' would replace a directory")
        }
        try SystemCall.retrying("unlink", path) { unlink(path) }
    }

}

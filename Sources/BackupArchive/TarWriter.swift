import BackupCore
import BackupModel
import BackupPOSIX

/// Writes a directory tree as a POSIX (ustar + pax) archive that stock `tar` reads.
struct TarWriter {
    private let output: WriteBehindSink
    private(set) var summary = ArchiveSummary(entryCount: 0, contentBytes: 0)

    init(sink: any ByteSink) {
        self.output = WriteBehindSink(sink)
    }

    /// Writes every entry below `root`, sorted by name, directories before their contents.
    mutating func writeTree(root: String, relative: String = "") throws {
        for name in try FileTree.names(in: relative.isEmpty ? root : root + "/" + relative) {
            let path = relative.isEmpty ? name : relative + "/" + name
            let full = root + "/" + path
            guard let status = try FileStatus.of(full) else { continue }
            switch status.kind {
            case .directory:
                try self.writeHeader(path + "/", status: status, type: .directory, size: 0)
                try self.writeTree(root: root, relative: path)
            case .regular:
                try self.writeHeader(path, status: status, type: .regular, size: status.size)
                try self.writeContent(of: full, size: status.size)
            case .symlink:
                try self.writeHeader(path, status: status, type: .symlink, size: 0, link: try FileTree.readLink(full))
            case .other:
                self.summary.skipped.append(path)
                continue
            }
            self.summary.entryCount += 1
        }
    }

    /// Writes the end-of-archive marker (two zero blocks) and pads to a 10 KiB record, as tar does.
    mutating func finish() throws {
        try self.output.writeZeros(2 * TarHeader.blockSize)
        try self.output.flush()
    }

    private func writeHeader(_ name: String, status: FileStatus, type: TarHeader.EntryType, size: UInt64, link: String = "") throws {
        let header = TarHeader(
            name: name, mode: status.mode, uid: status.uid, gid: status.gid, size: size,
            mtime: status.mtimeSeconds, typeFlag: type.rawValue, linkName: link)
        try header.encode().withUnsafeBytes { try self.output.write($0) }
    }

    private mutating func writeContent(of path: String, size: UInt64) throws {
        let input = try FileDescriptorStream.openForReading(path)
        var remaining = size
        while remaining > 0 {
            let space = try self.output.reserve(minimum: 64 << 10)
            let wanted = Int(min(UInt64(space.count), remaining))
            let count = try input.read(into: UnsafeMutableRawBufferPointer(rebasing: space[0..<wanted]))
            if count == 0 {
                throw BackupError(.storage, "\(path) shrank while it was being archived")
            }
            self.output.commit(count)
            remaining -= UInt64(count)
        }
        try self.output.writeZeros(TarHeader.padding(size))
        self.summary.contentBytes += size
    }
}

import Foundation

/// What archiving a tree produced.
public struct ArchiveSummary: Sendable, Equatable {
    /// Entries in the archive (files, directories and links).
    public var entryCount: Int
    /// Bytes of file content.
    public var contentBytes: UInt64

    public init(entryCount: Int, contentBytes: UInt64) {
        self.entryCount = entryCount
        self.contentBytes = contentBytes
    }
}

/// Turns a directory tree into an archive stream and back. `BackupArchive` implements it with tar.
public protocol ArchiveFormat: Sendable {
    /// Writes the tree under `directory` into `sink` (without finishing it). Blocking.
    func archive(directory: URL, to sink: any ByteSink) throws -> ArchiveSummary
    /// Extracts `source` into the empty directory `directory`, refusing any entry that would land
    /// outside it. Blocking.
    func extract(from source: any ByteSource, into directory: URL) throws -> ArchiveSummary
    /// Reads the whole archive, checking its structure and that every entry is safe to extract,
    /// without writing anything. Blocking.
    func validate(from source: any ByteSource) throws -> ArchiveSummary
}

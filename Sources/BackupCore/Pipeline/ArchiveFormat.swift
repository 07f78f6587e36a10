import BackupModel
import BackupPOSIX
import Foundation

/// What archiving a tree produced.
public struct ArchiveSummary: Sendable, Equatable {
    /// Entries in the archive (files, directories and links).
    public var entryCount: Int
    /// Bytes of file content.
    public var contentBytes: UInt64
    /// Entries an archive cannot carry (FIFOs, sockets, devices), left out: reported, never dropped silently.
    public var skipped: [String] = []

    public init(entryCount: Int, contentBytes: UInt64, skipped: [String] = []) {
        self.entryCount = entryCount
        self.contentBytes = contentBytes
        self.skipped = skipped
    }
}

/// What an archive read from a backup may hold: the counts its authenticated index recorded.
/// Extraction stops as soon as the archive goes beyond them, so a small file cannot unpack into an
/// unbounded tree (a compression bomb) in the staging area.
public struct ArchiveLimits: Sendable, Equatable {
    /// Entries (files, directories, links); nil for no bound.
    public var entries: Int?
    /// Bytes of file content; nil for no bound.
    public var contentBytes: UInt64?

    public init(entries: Int?, contentBytes: UInt64?) {
        self.entries = entries
        self.contentBytes = contentBytes
    }

    /// No bound beyond the format's own (header sizes).
    public static let none = ArchiveLimits(entries: nil, contentBytes: nil)
}

/// Turns a directory tree into an archive stream and back. `BackupArchive` implements it with tar.
public protocol ArchiveFormat: Sendable {
    /// Writes the tree under `directory` into `sink` (without finishing it). Blocking.
    func archive(directory: URL, to sink: any ByteSink) throws -> ArchiveSummary
    /// Extracts `source` into the empty directory `directory`, refusing any entry that would land
    /// outside it. Blocking.
    func extract(from source: any ByteSource, into directory: URL, limits: ArchiveLimits) throws -> ArchiveSummary
    /// Reads the whole archive, checking its structure and that every entry is safe to extract,
    /// without writing anything. Blocking.
    func validate(from source: any ByteSource, limits: ArchiveLimits) throws -> ArchiveSummary
}

extension ArchiveFormat {
    /// Extracts an archive this process made itself, with no bound beyond the format's own.
    public func extract(from source: any ByteSource, into directory: URL) throws -> ArchiveSummary {
        try self.extract(from: source, into: directory, limits: .none)
    }

    /// Validates an archive this process made itself, with no bound beyond the format's own.
    public func validate(from source: any ByteSource) throws -> ArchiveSummary {
        try self.validate(from: source, limits: .none)
    }
}

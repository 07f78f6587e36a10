import BackupCore
import BackupModel
import BackupPOSIX

/// Reads a tar stream entry by entry, resolving pax and GNU long-name headers.
final class TarReader {
    /// An entry's header, with its content still to be read or skipped.
    struct Entry {
        var header: TarHeader
        var type: TarHeader.EntryType?
    }

    private let source: any ByteSource
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0
    private var pendingContent: UInt64 = 0
    private var pendingPadding = 0

    init(source: any ByteSource) {
        self.source = source
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1 << 20, alignment: 16)
    }

    deinit {
        self.buffer.deallocate()
    }

    /// The next entry, or nil at the end-of-archive marker. Skips content left unread.
    func next() throws -> Entry? {
        try self.skipContent()
        var pax: [String: String] = [:]
        var longName: String?
        var longLink: String?
        // Extended headers before one entry, bounded in number and bytes: a few KiB of compressed
        // input must not become gigabytes of records in memory.
        var extendedHeaders = 0
        var extendedBytes: UInt64 = 0
        while true {
            let block = try self.readExactly(TarHeader.blockSize, what: "header")
            guard var header = try TarHeader.decode(block) else {
                return nil
            }
            let type = TarHeader.EntryType(rawValue: header.typeFlag == 0 ? TarHeader.EntryType.regular.rawValue : header.typeFlag)
            switch type {
            case .paxExtended, .gnuLongName, .gnuLongLink, .paxGlobal:
                extendedHeaders += 1
                // Checked before adding, so the sum cannot overflow.
                extendedBytes += min(header.size, Self.extendedHeaderLimit + 1)
                guard header.size <= Self.extendedHeaderLimit, extendedBytes <= Self.extendedHeaderLimit, extendedHeaders <= 16 else {
                    throw BackupError(.corrupted, "the archive has oversized or too many extended headers (more than \(Self.extendedHeaderLimit) bytes or 16 headers before one entry)")
                }
                if type == .paxGlobal {
                    _ = try self.readExactly(Int(header.size) + TarHeader.padding(header.size), what: "global header")
                    continue
                }
                let data = try self.readExactly(Int(header.size), what: "extended header")
                _ = try self.readExactly(TarHeader.padding(header.size), what: "padding")
                if type == .paxExtended {
                    pax.merge(try TarHeader.parsePax(data)) { $1 }
                } else {
                    let text = String(decoding: data.prefix { $0 != 0 }, as: UTF8.self)
                    if type == .gnuLongName { longName = text } else { longLink = text }
                }
            default:
                if let longName { header.name = longName }
                if let longLink { header.linkName = longLink }
                try header.apply(pax: pax)
                let hasContent = type == .regular || type == .contiguous || type == nil
                self.pendingContent = hasContent ? header.size : 0
                self.pendingPadding = hasContent ? TarHeader.padding(header.size) : 0
                return Entry(header: header, type: type)
            }
        }
    }

    /// Streams the current entry's content into `sink`.
    func readContent(into sink: any ByteSink) throws {
        while self.pendingContent > 0 {
            if self.start == self.end { try self.fill(what: "file content") }
            let count = Int(min(UInt64(self.end - self.start), self.pendingContent))
            try sink.write(UnsafeRawBufferPointer(rebasing: self.buffer[self.start..<(self.start + count)]))
            self.start += count
            self.pendingContent -= UInt64(count)
        }
        _ = try self.readExactly(self.pendingPadding, what: "padding")
        self.pendingPadding = 0
    }

    /// The most bytes the extended headers before one entry may take.
    static let extendedHeaderLimit: UInt64 = 1 << 20
    /// The most bytes accepted after the end-of-archive marker (stock tar pads to 10 KiB records).
    static let trailerLimit = 1 << 20

    /// Reads the rest of the stream, so the producer (gpg) finishes and its integrity check runs.
    /// What follows the end marker is bounded: an endless stream after it is an error, not a hang.
    func drain() throws {
        var trailing = self.end - self.start
        self.start = self.end
        while true {
            let count = try self.source.read(into: self.buffer)
            if count == 0 { return }
            trailing += count
            guard trailing <= Self.trailerLimit else {
                throw BackupError(.corrupted, "the archive continues for more than \(Self.trailerLimit) bytes after its end marker")
            }
        }
    }

    private func skipContent() throws {
        try self.readContent(into: NullSink())
    }

    private func fill(what: String) throws {
        self.start = 0
        self.end = try self.source.read(into: self.buffer)
        if self.end == 0 { throw BackupError(.corrupted, "the archive is truncated (in \(what))") }
    }

    private func readExactly(_ count: Int, what: String) throws -> [UInt8] {
        var result: [UInt8] = []
        result.reserveCapacity(count)
        while result.count < count {
            if self.start == self.end { try self.fill(what: what) }
            let take = min(self.end - self.start, count - result.count)
            result += UnsafeRawBufferPointer(rebasing: self.buffer[self.start..<(self.start + take)])
            self.start += take
        }
        return result
    }
}

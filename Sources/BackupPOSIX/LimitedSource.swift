import BackupModel

/// A source that yields at most `limit` bytes of another and then reports the end, so a file that
/// claims to be endless (a symlink to `/dev/zero`, a lying server) is read no further than the size
/// a backup recorded. `exceeded` tells whether the underlying source had more to give.
public final class LimitedSource: ByteSource {
    private let source: any ByteSource
    private var remaining: UInt64
    /// True once a read found data beyond the limit.
    public private(set) var exceeded = false

    /// Reads at most `limit` bytes of `source`.
    public init(_ source: any ByteSource, limit: UInt64) {
        self.source = source
        self.remaining = limit
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        guard self.remaining > 0 else {
            if !self.exceeded, buffer.count > 0 {
                // One probe byte: is there more than the limit?
                let probe = UnsafeMutableRawBufferPointer(rebasing: buffer[0..<1])
                self.exceeded = try self.source.read(into: probe) > 0
            }
            return 0
        }
        let wanted = Int(min(UInt64(buffer.count), self.remaining))
        let count = try self.source.read(into: UnsafeMutableRawBufferPointer(rebasing: buffer[0..<wanted]))
        self.remaining -= UInt64(count)
        return count
    }
}

/// A sink that collects a small stream into memory and refuses more than `limit` bytes.
public final class BoundedMemorySink: ByteSink {
    /// What was written so far.
    public private(set) var bytes: [UInt8] = []
    private let limit: Int
    private let what: String

    /// Collects up to `limit` bytes; `what` names the stream in the error.
    public init(limit: Int, what: String) {
        self.limit = limit
        self.what = what
    }

    public func write(_ chunk: UnsafeRawBufferPointer) throws {
        guard self.bytes.count + chunk.count <= self.limit else {
            throw BackupError(.corrupted, "\(self.what) is larger than \(self.limit) bytes")
        }
        self.bytes.append(contentsOf: chunk)
    }

    public func finish() throws {}
}

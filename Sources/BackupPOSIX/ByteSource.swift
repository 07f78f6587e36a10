import BackupModel

/// Something bytes are read from, a buffer at a time. Used on one thread at a time.
public protocol ByteSource: AnyObject {
    /// Reads up to `buffer.count` bytes; returns 0 at the end.
    func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int
}

/// Something bytes are written to. Used on one thread at a time.
public protocol ByteSink: AnyObject {
    /// Writes all of `bytes` or throws.
    func write(_ bytes: UnsafeRawBufferPointer) throws
    /// Flushes and finishes the stream; the data is durable when this returns.
    func finish() throws
}

extension ByteSource {
    /// Copies everything from this source into `sink` (without finishing it); returns the byte count.
    public func copy(to sink: any ByteSink, chunkSize: Int = 1 << 20) throws -> UInt64 {
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkSize, alignment: 16)
        defer { buffer.deallocate() }
        var total: UInt64 = 0
        while true {
            let count = try self.read(into: buffer)
            if count == 0 { return total }
            try sink.write(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            total += UInt64(count)
        }
    }
}

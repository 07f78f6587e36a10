import BackupCore

/// Collects small writes (headers, padding) into large ones, so the stream downstream (a pipe into
/// gpg) sees few, big writes.
final class BufferedSink {
    private let downstream: any ByteSink
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0

    init(_ downstream: any ByteSink, capacity: Int = 1 << 20) {
        self.downstream = downstream
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        self.buffer.deallocate()
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count > self.buffer.count - self.used {
            try self.flush()
            if bytes.count >= self.buffer.count {
                try self.downstream.write(bytes)
                return
            }
        }
        UnsafeMutableRawBufferPointer(rebasing: self.buffer[self.used..<(self.used + bytes.count)]).copyMemory(from: bytes)
        self.used += bytes.count
    }

    func write(_ bytes: [UInt8]) throws {
        try bytes.withUnsafeBytes { try self.write($0) }
    }

    func writeZeros(_ count: Int) throws {
        guard count > 0 else { return }
        try self.write([UInt8](repeating: 0, count: count))
    }

    /// Space to read into directly, avoiding a copy: at least `minimum` bytes, flushing first if needed.
    func reserve(minimum: Int) throws -> UnsafeMutableRawBufferPointer {
        if self.buffer.count - self.used < minimum { try self.flush() }
        return UnsafeMutableRawBufferPointer(rebasing: self.buffer[self.used...])
    }

    /// Marks `count` bytes of the reserved space as written.
    func commit(_ count: Int) {
        self.used += count
    }

    func flush() throws {
        guard self.used > 0 else { return }
        try self.downstream.write(UnsafeRawBufferPointer(rebasing: self.buffer[0..<self.used]))
        self.used = 0
    }
}

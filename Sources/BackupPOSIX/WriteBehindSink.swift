import BackupModel

/// Collects small writes into large ones before they reach its sink.
///
/// GPGME hands its output over 4 KiB at a time, the tar writer its 512-byte headers; into a pipe that
/// is a system call and a wake-up of the reader each. `flush()` passes on what is held without finishing the sink; `finish()`
/// flushes and finishes it. What is still held when a step fails is dropped, which for a decryption
/// means less unverified plaintext reaches the sink.
public final class WriteBehindSink: ByteSink {
    private let downstream: any ByteSink
    private let buffer: UnsafeMutableRawBufferPointer
    private var used = 0

    public init(_ downstream: any ByteSink, capacity: Int = 1 << 20) {
        self.downstream = downstream
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        self.buffer.deallocate()
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        if bytes.count > self.buffer.count - self.used {
            try self.flush()
            if bytes.count >= self.buffer.count {
                try self.downstream.write(bytes)
                return
            }
        }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return }
        (self.buffer.baseAddress! + self.used).copyMemory(from: base, byteCount: bytes.count)
        self.used += bytes.count
    }

    /// Space to fill directly, sparing a copy: at least `minimum` bytes (fewer than the capacity),
    /// flushing first if needed. Mark what was filled with `commit`.
    public func reserve(minimum: Int) throws -> UnsafeMutableRawBufferPointer {
        if self.buffer.count - self.used < minimum { try self.flush() }
        return UnsafeMutableRawBufferPointer(rebasing: self.buffer[self.used...])
    }

    /// Marks `count` bytes of the reserved space as written.
    public func commit(_ count: Int) {
        self.used += count
    }

    /// Writes `count` zero bytes (tar padding).
    public func writeZeros(_ count: Int) throws {
        var remaining = count
        while remaining > 0 {
            let space = try self.reserve(minimum: 1)
            let chunk = min(space.count, remaining)
            space.baseAddress!.initializeMemory(as: UInt8.self, repeating: 0, count: chunk)
            self.commit(chunk)
            remaining -= chunk
        }
    }

    /// Writes what is held to the sink, without finishing it.
    public func flush() throws {
        guard self.used > 0 else { return }
        try self.downstream.write(UnsafeRawBufferPointer(rebasing: self.buffer[0..<self.used]))
        self.used = 0
    }

    public func finish() throws {
        try self.flush()
        try self.downstream.finish()
    }
}

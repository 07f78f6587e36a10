/// Collects small writes into large ones before they reach its sink.
///
/// GPGME hands its output over 4 KiB at a time; into a pipe that is a system call and a wake-up of
/// the reader per 4 KiB. `flush()` passes on what is held without finishing the sink; `finish()`
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

import BackupModel

/// Reads its source in large blocks and serves small reads from memory.
///
/// GPGME pulls its input 4 KiB at a time; straight from a pipe or a file that is a system call (and,
/// on a pipe, a wake-up of the writer) per 4 KiB. One 1 MiB read serves 256 of them.
public final class ReadAheadSource: ByteSource {
    private let upstream: any ByteSource
    private let buffer: UnsafeMutableRawBufferPointer
    private var start = 0
    private var end = 0

    public init(_ upstream: any ByteSource, capacity: Int = 1 << 20) {
        self.upstream = upstream
        self.buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: capacity, alignment: 16)
    }

    deinit {
        self.buffer.deallocate()
    }

    public func read(into destination: UnsafeMutableRawBufferPointer) throws -> Int {
        guard destination.count > 0 else { return 0 }
        if self.start == self.end {
            // A read as large as the buffer gains nothing from a copy through it.
            if destination.count >= self.buffer.count { return try self.upstream.read(into: destination) }
            self.start = 0
            self.end = try self.upstream.read(into: self.buffer)
            if self.end == 0 { return 0 }
        }
        let count = min(destination.count, self.end - self.start)
        destination.baseAddress?.copyMemory(from: self.buffer.baseAddress! + self.start, byteCount: count)
        self.start += count
        return count
    }
}

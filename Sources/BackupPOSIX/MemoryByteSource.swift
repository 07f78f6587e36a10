import BackupModel
import Foundation

/// Small data in memory (an index, a request) as a `ByteSource`.
public final class MemoryByteSource: ByteSource {
    private let data: Data
    private var offset = 0

    public init(_ data: Data) {
        self.data = data
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, self.data.count - self.offset)
        guard count > 0, let base = buffer.baseAddress else { return 0 }
        self.data.withUnsafeBytes { bytes in
            if let start = bytes.baseAddress { base.copyMemory(from: start + self.offset, byteCount: count) }
        }
        self.offset += count
        return count
    }
}

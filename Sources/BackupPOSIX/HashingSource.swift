import BackupModel
import Crypto

/// A source that passes bytes on while counting them and computing their SHA-256.
public final class HashingSource: ByteSource {
    private let upstream: any ByteSource
    private var hasher = SHA256()
    /// Bytes read so far.
    public private(set) var byteCount: UInt64 = 0

    /// Wraps `upstream`.
    public init(_ upstream: any ByteSource) {
        self.upstream = upstream
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = try self.upstream.read(into: buffer)
        if count > 0 {
            self.hasher.update(bufferPointer: UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
            self.byteCount += UInt64(count)
        }
        return count
    }

    /// The SHA-256 of everything read, as lowercase hex.
    public func hexDigest() -> String {
        self.hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

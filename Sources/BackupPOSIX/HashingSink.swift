import BackupModel
import Crypto

/// A sink that passes bytes on while counting them and computing their SHA-256.
public final class HashingSink: ByteSink {
    private let downstream: any ByteSink
    private var hasher = SHA256()
    /// Bytes written so far.
    public private(set) var byteCount: UInt64 = 0

    private let onProgress: ((UInt64) -> Void)?
    private var nextReport: UInt64 = HashingSink.reportEvery

    /// Reports progress every 8 MiB.
    package static let reportEvery: UInt64 = 8 << 20

    /// Wraps `downstream`; `onProgress` hears the byte count every few MiB.
    public init(_ downstream: any ByteSink, onProgress: ((UInt64) -> Void)? = nil) {
        self.downstream = downstream
        self.onProgress = onProgress
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        self.hasher.update(bufferPointer: bytes)
        self.byteCount += UInt64(bytes.count)
        try self.downstream.write(bytes)
        if let onProgress = self.onProgress, self.byteCount >= self.nextReport {
            self.nextReport = self.byteCount + Self.reportEvery
            onProgress(self.byteCount)
        }
    }

    public func finish() throws {
        try self.downstream.finish()
    }

    /// The SHA-256 of everything written, as lowercase hex.
    public func hexDigest() -> String {
        self.hasher.finalize().map { String(format: "%02x", $0) }.joined()
    }
}

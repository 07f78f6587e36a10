import BackupModel
import BackupPOSIX

/// Reads one component file of a backup, checks it against the size and SHA-256 the index recorded,
/// and decrypts it. The file is read no further than its recorded size (a file that claims to be
/// endless cannot hold a job), and the checksum is judged before the cipher's error, so a damaged file
/// is reported as damaged rather than as a wrong password.
public struct ComponentDecryptor: Sendable {
    public var store: any BackupStore
    public var cipher: any PayloadCipher
    public var passphrase: Secret

    public init(store: any BackupStore, cipher: any PayloadCipher, passphrase: Secret) {
        self.store = store
        self.cipher = cipher
        self.passphrase = passphrase
    }

    /// Decrypts `component` of `backup` and hands its plaintext, decompressed when `decompression` is
    /// given, to `sink` (not finished) only once it is authenticated: the decryption goes first into the
    /// file `spool` (created here, removed before returning; in private staging), bounded by what the
    /// authenticated index allows; only when the file's size and SHA-256 match the record and the cipher's
    /// integrity check passed is the spool read into the decompressor and `sink`. No byte of a forged or
    /// damaged file reaches the decompressor or the extractor. Blocking.
    public func decrypt(backup: String, component: SealedIndex.Component, into sink: any ByteSink, decompression: (any PayloadCompression)? = nil, spool: String) throws {
        let (file, expectedSize, expectedDigest) = try Self.recorded(component, backup: backup)
        let limited = try self.open(backup: backup, file: file, size: expectedSize)
        let hashing = HashingSource(limited)
        let limit = Self.plaintextLimit(component)
        let spooled = try FileDescriptorStream.create(spool, mode: 0o600, flush: .none)
        defer { try? FileTree.remove(spool) }
        let bounded = BoundedSink(spooled, limit: limit, what: "the plaintext of \(file)")
        var cipherError: (any Error)?
        do {
            try self.cipher.decrypt(from: hashing, to: bounded, passphrase: self.passphrase)
            try spooled.finish()
        } catch {
            cipherError = error
        }
        // Read what the cipher left, so the checksum covers the whole file.
        _ = try hashing.copy(to: NullSink())
        try Self.check(size: hashing.byteCount, longer: limited.exceeded, digest: hashing.hexDigest(), expectedSize: expectedSize, expectedDigest: expectedDigest, file: file)
        if let cipherError { throw BackupError.wrap(cipherError, as: .cryptoFailed) }
        // Authenticated: now, and only now, the plaintext goes on.
        let verified = try FileDescriptorStream.openForReading(spool)
        let target = try decompression.map { try $0.decompressor(into: sink) }
        _ = try verified.copy(to: target ?? sink)
        try target?.finish()
    }

    /// Decrypts `component` of `backup` straight into `sink`, with no spool: the plaintext reaches
    /// `sink` before it is authenticated, and the file's size, SHA-256 and gpg's integrity check are
    /// judged at the end. Only for a consumer that throws its output away unless this returns: a
    /// rotation re-encrypting into a file no index names yet (`BackupRekey`), where the spool would
    /// only serialise the decryption and the encryption. Blocking.
    public func decryptUnauthenticatedStream(backup: String, component: SealedIndex.Component, into sink: any ByteSink) throws {
        let (file, expectedSize, expectedDigest) = try Self.recorded(component, backup: backup)
        let limited = try self.open(backup: backup, file: file, size: expectedSize)
        let hashing = HashingSource(limited)
        let bounded = BoundedSink(sink, limit: Self.plaintextLimit(component), what: "the plaintext of \(file)")
        var cipherError: (any Error)?
        do {
            try self.cipher.decrypt(from: hashing, to: bounded, passphrase: self.passphrase)
        } catch {
            cipherError = error
        }
        _ = try hashing.copy(to: NullSink())
        try Self.check(size: hashing.byteCount, longer: limited.exceeded, digest: hashing.hexDigest(), expectedSize: expectedSize, expectedDigest: expectedDigest, file: file)
        if let cipherError { throw BackupError.wrap(cipherError, as: .cryptoFailed) }
    }

    /// The most plaintext `component`'s file may decrypt to. gpg's own compression is off in format 2,
    /// so a zstd archive's OpenPGP plaintext is smaller than the file; an uncompressed tar (format 1, gpg
    /// compressing) is bounded by its recorded content and entries (headers, padding), or, without
    /// them, by 64 times the file.
    static func plaintextLimit(_ component: SealedIndex.Component) -> UInt64 {
        let size = component.size ?? 0
        if component.compression != "none" { return size }
        if let content = component.contentBytes, let entries = component.entries, entries >= 0 {
            // Per entry: up to four 512-byte header blocks (PAX, long names) and a block of padding;
            // then the end-of-archive blocks, rounded up to tar's 10 KiB records.
            let (perEntries, overflow) = UInt64(entries + 1).multipliedReportingOverflow(by: 5 * 512)
            let (total, overflow2) = content.addingReportingOverflow(perEntries)
            return overflow || overflow2 ? UInt64.max : total + 20_480
        }
        let (scaled, overflow) = size.multipliedReportingOverflow(by: 64)
        return overflow ? UInt64.max : max(scaled, 1 << 20)
    }

    /// Checks `component`'s file by checksum only (no password). Blocking.
    public func checksum(backup: String, component: SealedIndex.Component) throws {
        let (file, expectedSize, expectedDigest) = try Self.recorded(component, backup: backup)
        let limited = try self.open(backup: backup, file: file, size: expectedSize)
        let hashing = HashingSource(limited)
        _ = try hashing.copy(to: NullSink())
        try Self.check(size: hashing.byteCount, longer: limited.exceeded, digest: hashing.hexDigest(), expectedSize: expectedSize, expectedDigest: expectedDigest, file: file)
    }

    private func open(backup: String, file: String, size: UInt64) throws -> LimitedSource {
        do {
            return LimitedSource(try self.store.openComponent(backup: backup, file: file), limit: size)
        } catch let error as BackupError where error.code == .notFound {
            throw BackupError(.corrupted, error.message)
        }
    }

    private static func recorded(_ component: SealedIndex.Component, backup: String) throws -> (String, UInt64, String) {
        guard let file = component.file, let size = component.size, let digest = component.sha256 else {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)) records no file for component \(component.name)")
        }
        return (file, size, digest)
    }

    private static func check(size: UInt64, longer: Bool, digest: String, expectedSize: UInt64, expectedDigest: String, file: String) throws {
        if longer {
            throw BackupError(.corrupted, "\(file) is longer than the \(expectedSize) bytes the backup recorded: the file is altered; it was read no further")
        }
        if size != expectedSize {
            throw BackupError(.corrupted, "\(file) is \(size) bytes but the backup recorded \(expectedSize): the file is truncated or altered")
        }
        if digest != expectedDigest {
            throw BackupError(.corrupted, "\(file) does not match the SHA-256 the backup recorded: the file is damaged or altered")
        }
    }
}

/// A sink that refuses more than `limit` bytes, passing the rest on.
final class BoundedSink: ByteSink {
    private let sink: any ByteSink
    private let limit: UInt64
    private let what: String
    private var written: UInt64 = 0

    init(_ sink: any ByteSink, limit: UInt64, what: String) {
        self.sink = sink
        self.limit = limit
        self.what = what
    }

    func write(_ bytes: UnsafeRawBufferPointer) throws {
        guard UInt64(bytes.count) <= self.limit - min(self.limit, self.written) else {
            throw BackupError(.corrupted, "\(self.what) is larger than the \(self.limit) bytes its record allows")
        }
        try self.sink.write(bytes)
        self.written += UInt64(bytes.count)
    }

    func finish() throws { try self.sink.finish() }
}


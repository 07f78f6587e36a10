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

    /// Decrypts `component` of `backup` into `sink` (not finished). Blocking. `sink` may have received
    /// unverified plaintext when this throws.
    /// With `decompression`, the plaintext is decompressed on its way into `sink`. With `gate`, no
    /// plaintext goes further than the cipher's output until the gate opens (see `PlaintextGate`); a
    /// refused gate ends the decryption with the refusal's error at the next read or write, the rest
    /// of the file unread (until the gate opens, `component`'s size is only what the plain manifest
    /// claims).
    public func decrypt(backup: String, component: SealedIndex.Component, into sink: any ByteSink, decompression: (any PayloadCompression)? = nil, gate: PlaintextGate? = nil) throws {
        let (file, expectedSize, expectedDigest) = try Self.recorded(component, backup: backup)
        let limited = try self.open(backup: backup, file: file, size: expectedSize)
        let hashing = HashingSource(gate.map { GatedSource(limited, gate: $0) } ?? limited)
        var cipherError: (any Error)?
        do {
            let target = try decompression.map { try $0.decompressor(into: sink) }
            let output: any ByteSink = target ?? sink
            try self.cipher.decrypt(from: hashing, to: gate.map { GatedSink(output, gate: $0) } ?? output, passphrase: self.passphrase)
            // A plaintext too short to have been written yet is held here as well.
            try gate?.wait()
            try target?.finish()
        } catch {
            if let gate, gate.isRefused { throw error }
            cipherError = error
        }
        // Read what the cipher left, so the checksum covers the whole file.
        _ = try hashing.copy(to: NullSink())
        try Self.check(size: hashing.byteCount, longer: limited.exceeded, digest: hashing.hexDigest(), expectedSize: expectedSize, expectedDigest: expectedDigest, file: file)
        if let cipherError { throw BackupError.wrap(cipherError, as: .cryptoFailed) }
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

/// A sink that discards everything.
public final class NullSink: ByteSink {
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws {}
    public func finish() throws {}
}

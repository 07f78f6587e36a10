import BackupModel
import BackupPOSIX

/// Encrypts and decrypts a component's archive as a stream. `BackupCrypto` implements it with GPGME;
/// the core only knows this protocol, so it stays free of C.
public protocol PayloadCipher: Sendable {
    /// Encrypts everything from `source` into `sink` with `passphrase`. Blocking.
    func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws
    /// Encrypts `input` into `sink` once it is provided, starting now: a cipher whose key derivation
    /// is slow does it while the input is still being prepared (see `DeferredInput`). Blocking until
    /// the input is decided and encrypted; throws the abandonment's error when it is abandoned.
    func encrypt(deferred input: DeferredInput, to sink: any ByteSink, passphrase: Secret) throws
    /// Decrypts `source` into `sink`. Throws `.wrongPassword` or `.corrupted` when the message does
    /// not open or fails its integrity check; `sink` may then hold unverified plaintext. Blocking.
    func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws
    /// Removes what a process that died left behind (a private gpg-agent and its home). Called with
    /// the job lock held, before a new job starts.
    func removeAbandonedResources()
    /// Releases what this cipher keeps between operations (a gpg-agent) now, when a job or a
    /// verification ends: a process may exit before it would be released otherwise. A later
    /// operation starts afresh.
    func releaseResources()
    /// The fingerprints of the public keys every message is also encrypted to (recovery keys),
    /// recorded in each backup's authenticated index; none by default.
    var recipientFingerprints: [String] { get }
    /// False when what a decryption proves is not tied to the passphrase given (a recovery key
    /// decrypts whatever was encrypted to it): the catalog cache, whose key the passphrase opens, is
    /// then neither read nor written.
    var allowsCatalogCache: Bool { get }
    /// What opens the messages, for errors: `the security password`, or `the recovery key`.
    var secretDescription: String { get }
}

extension PayloadCipher {
    /// Waits for the input, then encrypts it: no work ahead of it.
    public func encrypt(deferred input: DeferredInput, to sink: any ByteSink, passphrase: Secret) throws {
        try self.encrypt(from: input.source(), to: sink, passphrase: passphrase)
    }

    public func removeAbandonedResources() {}
    public func releaseResources() {}
    public var recipientFingerprints: [String] { [] }
    public var allowsCatalogCache: Bool { true }
    public var secretDescription: String { "the security password" }
}

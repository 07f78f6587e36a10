public import BackupCore
public import BackupModel
public import BackupPOSIX
import CGPGME

/// Encrypts component archives as OpenPGP symmetric messages (AES-256, integrity-protected) with
/// GPGME, streaming: what `gpg --decrypt` opens with the security password.
public struct GPGSymmetricCipher: PayloadCipher {
    /// Whether gpg compresses (its zlib, one core): off when the archive was compressed before.
    public let compress: Bool
    /// Public keys every message is also encrypted to (recovery keys): their secret keys open it
    /// without the password.
    public let recipients: [GPGRecipientKey]
    /// A secret key that decryption uses instead of the password (`--recovery-key`); its home is in
    /// memory (/dev/shm), never on disk.
    public let recoveryKey: GPGRecoveryKey?
    /// One private home, so one gpg-agent, for every operation of this cipher (a job's): starting an
    /// agent costs about 0.3 s. Safe to share: the symmetric-key cache is off in every context.
    /// (Internal, not private: tests find this cipher's own gpg by its home.)
    let homes: GPGHomeProvider

    public init(compress: Bool = true, recipients: [GPGRecipientKey] = [], recoveryKey: GPGRecoveryKey? = nil) {
        self.compress = compress
        self.recipients = recipients
        self.recoveryKey = recoveryKey
        self.homes = GPGHomeProvider(compress: compress, inMemory: recoveryKey != nil)
    }

    public var recipientFingerprints: [String] { self.recipients.map(\.fingerprint) }

    /// Not with a recovery key: its stand-in passphrase would open (and write) the cache's key.
    public var allowsCatalogCache: Bool { self.recoveryKey == nil }

    public var secretDescription: String { self.recoveryKey == nil ? "the security password" : "the recovery key" }

    /// Stops this cipher's gpg-agent and removes its home now.
    public func releaseResources() {
        self.homes.close()
    }

    /// Stops the gpg-agents, and removes the homes, of gwbackup processes that died.
    public func removeAbandonedResources() {
        GPGHome.removeAbandoned()
    }

    /// The GPGME library version, for `gwbackup --version` and diagnostics.
    public static var libraryVersion: String { GPGME.version }

    public func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
        // GPGME moves data 64 KiB at a time: buffer both sides so pipes and files see 1 MiB.
        try self.encrypt(ReadAheadSource(source), to: sink, passphrase: passphrase)
    }

    /// Starts gpg at once and hands it the passphrase, so that it derives the key while `input` is
    /// prepared; GPGME's input to gpg is held back (`GPGEventLoop`) until `input` is decided.
    public func encrypt(deferred input: DeferredInput, to sink: any ByteSink, passphrase: Secret) throws {
        try self.encrypt(input.source(), to: sink, passphrase: passphrase, holdingInputUntil: { input.isDecided }, passphraseHandedOver: { input.noteKeyedAhead() })
    }

    /// Encrypts `source` into `sink`; gpg's input waits until `release` holds (see `operate`).
    private func encrypt(
        _ source: any ByteSource, to sink: any ByteSink, passphrase: Secret,
        holdingInputUntil release: () -> Bool = { true }, passphraseHandedOver: (() -> Void)? = nil
    ) throws {
        let output = WriteBehindSink(sink)
        let plain = try GPGDataStream(source: source)
        let cipher = try GPGDataStream(sink: output)
        let recipients = self.recipients
        let status = try self.operate(passphrase: passphrase, input: plain, output: cipher, finishedWhen: "END_ENCRYPTION", holdingInputUntil: release, passphraseHandedOver: passphraseHandedOver, prepare: { context in
            // The recovery keys, imported into this job's home for this operation.
            var keys: [gpgme_key_t?] = []
            for recipient in recipients {
                for fingerprint in try GPGRecipientKey.importKeys(recipient.data, into: context, what: "recipient key \(SafeText.escaped(recipient.path))") {
                    var key: gpgme_key_t?
                    try GPGME.check(gpgme_get_key(context, fingerprint, &key, 0), "gpgme_get_key")
                    keys.append(key)
                }
            }
            return keys
        }) { context, keys in
            if keys.isEmpty {
                return gpgme_op_encrypt_start(context, nil, GPGME_ENCRYPT_SYMMETRIC, plain.handle, cipher.handle)
            }
            // Symmetric (the security password) and to each recovery key, trusted as given.
            var list = keys + [nil]
            let flags = gpgme_encrypt_flags_t(rawValue: GPGME_ENCRYPT_SYMMETRIC.rawValue | GPGME_ENCRYPT_ALWAYS_TRUST.rawValue)
            return list.withUnsafeMutableBufferPointer { gpgme_op_encrypt_start(context, $0.baseAddress, flags, plain.handle, cipher.handle) }
        }
        // An error of our own stream (a full disk, a dropped connection) explains GPGME's better.
        if let error = plain.endpoint.error ?? cipher.endpoint.error { throw error }
        try GPGME.check(status, "gpgme_op_encrypt")
        try output.flush()
    }

    public func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
        let output = WriteBehindSink(sink)
        let cipher = try GPGDataStream(source: ReadAheadSource(source))
        let plain = try GPGDataStream(sink: output)
        let recoveryKey = self.recoveryKey
        let status = try self.operate(passphrase: passphrase, input: cipher, output: plain, finishedWhen: "DECRYPTION_OKAY", prepare: { context in
            // The recovery key's secret part, into this job's home in memory.
            if let recoveryKey { _ = try GPGRecipientKey.importKeys(recoveryKey.data, into: context, what: "recovery key \(SafeText.escaped(recoveryKey.path))") }
            return []
        }) { context, _ in
            gpgme_op_decrypt_start(context, cipher.handle, plain.handle)
        }
        if let error = cipher.endpoint.error ?? plain.endpoint.error { throw error }
        if status == 0 {
            try output.flush()
            return
        }
        switch cgpgme_err_code(status) {
        case cgpgme_code_canceled(), cgpgme_code_bad_passphrase(), cgpgme_code_no_seckey():
            if let recoveryKey {
                throw BackupError(.wrongPassword, "the recovery key \(recoveryKey.fingerprint) does not open this backup (it was not encrypted to it, or the key's passphrase is wrong)")
            }
            throw BackupError(.wrongPassword, "the security password does not open this backup")
        case cgpgme_code_decrypt_failed():
            throw BackupError(.corrupted, "decryption failed: the data is damaged, altered, or the security password is wrong (\(GPGME.message(status)))")
        case cgpgme_code_no_data():
            throw BackupError(.corrupted, "the file is not an OpenPGP message (\(GPGME.message(status)))")
        default:
            throw GPGME.error(status, "gpgme_op_decrypt")
        }
    }

    /// Runs one operation, started by `start` in a new context of this cipher's home, through a
    /// `GPGEventLoop` that moves `input`'s and `output`'s data itself; returns its outcome. An
    /// operation GPGME calls a success but whose gpg never reported `finishedWhen` throws: GPGME 1.18
    /// does not look at gpg's exit, so a gpg killed mid-stream (the OOM killer, an operator) ended an
    /// encryption "successfully" with its output cut short.
    private func operate(
        passphrase: Secret, input: GPGDataStream, output: GPGDataStream, finishedWhen: String,
        holdingInputUntil release: () -> Bool = { true }, passphraseHandedOver: (() -> Void)? = nil,
        prepare: (gpgme_ctx_t) throws -> [gpgme_key_t?] = { _ in [] },
        start: (gpgme_ctx_t, [gpgme_key_t?]) -> gpgme_error_t
    ) throws -> gpgme_error_t {
        let home = try self.homes.home()
        // The loop outlives the context: GPGME hands the loop's tags back until the context is released.
        let loop = GPGEventLoop(input: input.endpoint, output: output.endpoint)
        return try withExtendedLifetime(loop) { () throws -> gpgme_error_t in
            let context = try GPGContext(passphrase: passphrase, home: home, passphraseHandedOver: passphraseHandedOver)
            // Synchronous key work (imports, look-ups) before the loop takes the context's I/O over.
            let keys = try prepare(context.handle)
            defer { for key in keys { if let key { gpgme_key_unref(key) } } }
            loop.install(on: context.handle)
            let started = start(context.handle, keys)
            guard started == 0 else { return started }
            let outcome = loop.run(holdingInputUntil: release)
            if outcome == 0 && input.endpoint.error == nil && output.endpoint.error == nil && !context.reported(finishedWhen) {
                throw BackupError(.cryptoFailed, "gpg ended without reporting \(finishedWhen): it did not finish (killed?), and its output is incomplete")
            }
            return outcome
        }
    }
}

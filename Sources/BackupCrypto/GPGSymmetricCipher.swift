public import BackupCore
import CGPGME

/// Encrypts component archives as OpenPGP symmetric messages (AES-256, integrity-protected) with
/// GPGME, streaming: what `gpg --decrypt` opens with the security password.
public struct GPGSymmetricCipher: PayloadCipher {
    /// Whether gpg compresses (its zlib, one core): off when the archive was compressed before.
    public let compress: Bool
    /// One private home, so one gpg-agent, for every operation of this cipher (a job's): starting an
    /// agent costs about 0.3 s. Safe to share: the symmetric-key cache is off in every context.
    /// (Internal, not private: tests find this cipher's own gpg by its home.)
    let homes: GPGHomeProvider

    public init(compress: Bool = true) {
        self.compress = compress
        self.homes = GPGHomeProvider(compress: compress)
    }

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
        let status = try self.operate(passphrase: passphrase, input: plain, output: cipher, finishedWhen: "END_ENCRYPTION", holdingInputUntil: release, passphraseHandedOver: passphraseHandedOver) { context in
            gpgme_op_encrypt_start(context, nil, GPGME_ENCRYPT_SYMMETRIC, plain.handle, cipher.handle)
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
        let status = try self.operate(passphrase: passphrase, input: cipher, output: plain, finishedWhen: "DECRYPTION_OKAY") { context in
            gpgme_op_decrypt_start(context, cipher.handle, plain.handle)
        }
        if let error = cipher.endpoint.error ?? plain.endpoint.error { throw error }
        if status == 0 {
            try output.flush()
            return
        }
        switch cgpgme_err_code(status) {
        case cgpgme_code_canceled(), cgpgme_code_bad_passphrase(), cgpgme_code_no_seckey():
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
        start: (gpgme_ctx_t) -> gpgme_error_t
    ) throws -> gpgme_error_t {
        let home = try self.homes.home()
        // The loop outlives the context: GPGME hands the loop's tags back until the context is released.
        let loop = GPGEventLoop(input: input.endpoint, output: output.endpoint)
        return try withExtendedLifetime(loop) { () throws -> gpgme_error_t in
            let context = try GPGContext(passphrase: passphrase, home: home, passphraseHandedOver: passphraseHandedOver)
            loop.install(on: context.handle)
            let started = start(context.handle)
            guard started == 0 else { return started }
            let outcome = loop.run(holdingInputUntil: release)
            if outcome == 0 && input.endpoint.error == nil && output.endpoint.error == nil && !context.reported(finishedWhen) {
                throw BackupError(.cryptoFailed, "gpg ended without reporting \(finishedWhen): it did not finish (killed?), and its output is incomplete")
            }
            return outcome
        }
    }
}

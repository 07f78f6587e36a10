import BackupCore
import CGPGME
#if canImport(Glibc)
import Glibc
#endif

/// A `gpgme_ctx_t` set up for symmetric OpenPGP with a passphrase: a private home, no symmetric-key
/// cache (with the cache, gpg-agent would let a *wrong* passphrase decrypt), loopback pinentry, and a
/// passphrase callback that gives up when gpg says the passphrase was bad.
final class GPGContext {
    /// The passphrase, reached from the C callback through its `void *` hook.
    final class PassphraseHolder {
        let passphrase: Secret
        init(_ passphrase: Secret) { self.passphrase = passphrase }
    }

    let handle: gpgme_ctx_t
    private let holder: PassphraseHolder
    private let home: GPGHome

    /// A context in `home` (shared by the operations of one job: one gpg-agent, not one each).
    init(passphrase: Secret, home: GPGHome) throws {
        _ = GPGME.version
        self.home = home
        self.holder = PassphraseHolder(passphrase)
        var context: gpgme_ctx_t?
        try GPGME.check(gpgme_new(&context), "gpgme_new")
        guard let context else { throw BackupError(.cryptoFailed, "gpgme_new returned no context") }
        self.handle = context
        try GPGME.check(gpgme_ctx_set_engine_info(context, GPGME_PROTOCOL_OpenPGP, nil, self.home.path), "gpgme_ctx_set_engine_info")
        try GPGME.check(gpgme_set_ctx_flag(context, "no-symkey-cache", "1"), "gpgme_set_ctx_flag(no-symkey-cache)")
        try GPGME.check(gpgme_set_pinentry_mode(context, GPGME_PINENTRY_MODE_LOOPBACK), "gpgme_set_pinentry_mode")
        gpgme_set_armor(context, 0)
        gpgme_set_passphrase_cb(context, { hook, _, _, previousWasBad, fd in
            guard let hook else { return cgpgme_error_canceled() }
            // Asking again with the same passphrase cannot help: stop, and report a wrong password.
            if previousWasBad != 0 { return cgpgme_error_canceled() }
            let holder = Unmanaged<PassphraseHolder>.fromOpaque(hook).takeUnretainedValue()
            let line = holder.passphrase.revealed + "\n"
            let bytes = Array(line.utf8)
            let written = bytes.withUnsafeBytes { gpgme_io_writen(fd, $0.baseAddress, $0.count) }
            return written == 0 ? 0 : cgpgme_error_canceled()
        }, Unmanaged.passUnretained(self.holder).toOpaque())
    }

    deinit {
        gpgme_release(self.handle)
    }
}

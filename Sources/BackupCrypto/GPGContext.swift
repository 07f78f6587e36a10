import BackupCore
import BackupModel
import BackupPOSIX
import CGPGME
import Synchronization
import Glibc

/// A `gpgme_ctx_t` set up for symmetric OpenPGP with a passphrase: a private home, no symmetric-key
/// cache (with the cache, gpg-agent would let a *wrong* passphrase decrypt), loopback pinentry, and a
/// passphrase callback that gives up when gpg says the passphrase was bad.
final class GPGContext {
    /// The passphrase, reached from the C callback through its `void *` hook.
    final class PassphraseHolder {
        let passphrase: Secret
        /// Called each time the passphrase has been handed to gpg.
        let handedOver: (() -> Void)?
        init(_ passphrase: Secret, handedOver: (() -> Void)?) {
            self.passphrase = passphrase
            self.handedOver = handedOver
        }
    }

    /// The status keywords gpg reported, reached from the C callback through its `void *` hook.
    final class StatusRecorder {
        var keywords: Set<String> = []
    }

    let handle: gpgme_ctx_t
    private let holder: PassphraseHolder
    private let statuses = StatusRecorder()
    private let home: GPGHome

    /// A context in `home` (shared by the operations of one job: one gpg-agent, not one each).
    /// `passphraseHandedOver` is called each time gpg has been given the passphrase.
    init(passphrase: Secret, home: GPGHome, passphraseHandedOver: (() -> Void)? = nil) throws {
        _ = GPGME.version
        self.home = home
        self.holder = PassphraseHolder(passphrase, handedOver: passphraseHandedOver)
        var context: gpgme_ctx_t?
        try Self.defaultHome.withLock { current in
            // GPGME 1.18 runs `gpg --version` on every gpgme_(ctx_)set_engine_info, ~25 ms a time
            // and once per component before this; a new context copies the process default instead.
            // So the default names this home, set when another home (another job in this process)
            // last set it, and the lock holds until the new context has its copy.
            if current != home.path {
                try GPGME.check(gpgme_set_engine_info(GPGME_PROTOCOL_OpenPGP, nil, home.path), "gpgme_set_engine_info")
                current = home.path
            }
            try GPGME.check(gpgme_new(&context), "gpgme_new")
        }
        guard let context else { throw BackupError(.cryptoFailed, "gpgme_new returned no context") }
        // Never a context in another job's home (the lock above sees to it; checked all the same).
        // Released here: `handle` is not set yet, so `deinit` will not run.
        guard Self.homeDirectory(of: context) == home.path else {
            gpgme_release(context)
            throw BackupError(.cryptoFailed, "a GPGME context was made outside the job's GnuPG home")
        }
        self.handle = context
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
            guard written == 0 else { return cgpgme_error_canceled() }
            holder.handedOver?()
            return 0
        }, Unmanaged.passUnretained(self.holder).toOpaque())
        // Every status line gpg writes, as GPGME reads it (GPGME's own handling goes on as before;
        // without "full-status" the callback hears only a few).
        try GPGME.check(gpgme_set_ctx_flag(context, "full-status", "1"), "gpgme_set_ctx_flag(full-status)")
        gpgme_set_status_cb(context, { hook, keyword, _ in
            guard let hook, let keyword else { return 0 }
            Unmanaged<StatusRecorder>.fromOpaque(hook).takeUnretainedValue().keywords.insert(String(cString: keyword))
            return 0
        }, Unmanaged.passUnretained(self.statuses).toOpaque())
    }

    /// Whether gpg has reported status `keyword` (`END_ENCRYPTION`, `DECRYPTION_OKAY`) in this context.
    func reported(_ keyword: String) -> Bool {
        self.statuses.keywords.contains(keyword)
    }

    deinit {
        gpgme_release(self.handle)
    }

    /// The home the process default gives new contexts, as last set by `init`.
    private static let defaultHome = Mutex<String?>(nil)

    /// The OpenPGP engine's home directory in `context`'s engine info.
    static func homeDirectory(of context: gpgme_ctx_t) -> String? {
        var info = gpgme_ctx_get_engine_info(context)
        while let engine = info {
            if engine.pointee.protocol == GPGME_PROTOCOL_OpenPGP {
                return engine.pointee.home_dir.map { String(cString: $0) }
            }
            info = engine.pointee.next
        }
        return nil
    }
}

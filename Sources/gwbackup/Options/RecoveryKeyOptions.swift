import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `--recipient-key`: the public recovery keys every backup is also encrypted to (docs/keys.md).
struct RecipientKeyOptions: ParsableArguments {
    @Option(name: .customLong("recipient-key"), help: "Also encrypt every file of the backup to this OpenPGP public key (repeatable): its secret key then reads the backup with stock gpg, without the security password. Expired, revoked and sign-only keys are refused.")
    var recipientKeys: [String] = []

    /// `runtime` with the keys loaded and checked; unchanged without any.
    func apply(to runtime: BackupRuntime) throws -> BackupRuntime {
        guard !self.recipientKeys.isEmpty else { return runtime }
        return try runtime.with(recipientKeyFiles: self.recipientKeys.map(Paths.absolute))
    }

    /// A server encrypts to the recovery keys of its own configuration: a key given here would be
    /// silently left out, so it is refused.
    func refuseForServer() throws {
        if !self.recipientKeys.isEmpty {
            throw ValidationError("--recipient-key: the server encrypts to the recovery keys of its own configuration (recipientKeys in its --config)")
        }
    }
}

/// `--recovery-key`: read backups with a recovery key's secret part instead of the security password.
struct RecoveryKeyOptions: ParsableArguments {
    @Option(name: .customLong("recovery-key"), help: "Open the backup with this OpenPGP secret key (a recovery key it was encrypted to) instead of the security password; its passphrase, if any, from GWBACKUP_RECOVERY_KEY_PWD. Imported into memory only. A restore with it needs --backup NAME.")
    var recoveryKey: String?

    var isSet: Bool { self.recoveryKey != nil }

    /// `runtime` reading with the recovery key, and the secret that stands for the password (the
    /// key's passphrase); nil when no key was given.
    func apply(to runtime: BackupRuntime) throws -> (BackupRuntime, Secret)? {
        guard let path = self.recoveryKey else { return nil }
        let passphrase = SecretInput.environmentValue("GWBACKUP_RECOVERY_KEY_PWD") ?? "no passphrase"
        return (try runtime.with(recoveryKeyFile: Paths.absolute(path)), Secret(passphrase))
    }

    /// For a command whose password is optional (list, verify): `runtime` with the recovery key and
    /// its stand-in secret, else `runtime` and the security password when one was given (file or
    /// environment), else nil (checksums and plain manifests only).
    func openOptionally(_ runtime: BackupRuntime, securityPasswordFile: String?) throws -> (BackupRuntime, Secret?) {
        if let recovered = try self.apply(to: runtime) { return (recovered.0, recovered.1) }
        guard securityPasswordFile != nil || SecretInput.environmentValue("GWBACKUP_SECURITY_PWD") != nil else { return (runtime, nil) }
        return (runtime, try SecretInput.read(file: securityPasswordFile, environment: "GWBACKUP_SECURITY_PWD", prompt: ""))
    }
}

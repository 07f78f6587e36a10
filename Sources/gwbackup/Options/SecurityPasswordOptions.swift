import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX

/// The security password that encrypts backups.
struct SecurityPasswordOptions: ParsableArguments {
    @Option(name: .customLong("security-pwd-file"), help: "File holding the security password (or set GWBACKUP_SECURITY_PWD, or type it at the prompt).")
    var securityPasswordFile: String?

    /// Reads the password; `confirm` asks twice at a prompt (for a new backup).
    func read(confirm: Bool) throws -> Secret {
        try SecretInput.read(
            file: self.securityPasswordFile, environment: "GWBACKUP_SECURITY_PWD", prompt: "Security password: ", confirm: confirm)
    }
}

import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup verify`: check a backup without restoring it.
struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a backup without restoring anything.",
        discussion: "Without a security password: sizes and SHA-256 checksums. With one: every component is decrypted and its archive read.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @OptionGroup var recovery: RecoveryKeyOptions

    @Option(help: "The backup to check (default: the newest complete one).")
    var backup: String?

    @Option(name: .customLong("security-pwd-file"), help: "File holding the security password; decrypts every component. GWBACKUP_SECURITY_PWD works too.")
    var securityPasswordFile: String?

    @Option(help: "Components checked at once (read, decrypted, their archives read). Default: one per core.")
    var jobs: Int?

    @Flag(name: .customLong("allow-unauthenticated"), help: "Check a backup that has no authenticated index (format 1) with the password anyway.")
    var allowUnauthenticated = false

    func validate() throws {
        if let jobs, !(1...64).contains(jobs) { throw ValidationError("--jobs must be between 1 and 64, not \(jobs)") }
    }

    func run() async throws {
        try await CommandSupport.run {
            // With a recovery key: decrypted with its secret part, the security password not needed.
            let (runtime, passphrase) = try self.recovery.openOptionally(
                CommandSupport.runtime(state: self.state, output: self.output, deadlines: self.deadlines), securityPasswordFile: self.securityPasswordFile)
            let store = try self.storage.store(runtime: runtime)
            defer { store.close() }
            var verifier = runtime.verifier(store: store)
            verifier.jobs = self.jobs
            let report = try await verifier.verify(backup: self.backup, passphrase: passphrase, allowUnauthenticated: self.allowUnauthenticated)
            if self.output.json {
                try Format.printJSON(report)
            } else {
                print("verify (\(report.mode)) \(report.ok ? "OK" : "FAILED"): \(SafeText.escaped(report.backup)) (\(SafeText.escaped(report.location)))")
                if passphrase == nil {
                    print("  (no security password: checksums from the plain manifest find damage, not tampering)")
                }
                for component in report.components {
                    print("  " + SafeText.escaped(component.name).padding(toLength: 14, withPad: " ", startingAt: 0) + component.status.rawValue + (component.message.isEmpty ? "" : "  \(SafeText.escaped(component.message))"))
                }
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}

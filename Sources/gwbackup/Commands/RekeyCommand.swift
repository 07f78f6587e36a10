import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import GatewayClient
import GatewayWire

/// `gwbackup rekey`: rotate the security password of stored backups.
struct RekeyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rekey",
        abstract: "Re-encrypt backups under a new security password (rotation).",
        discussion: """
            Every chosen backup (default: every backup of this appliance that opens with either \
            password) is re-encrypted so that it opens with the new password and no longer with the \
            old one. A crash or a lost connection at any point leaves each backup readable with exactly \
            one of the two; running the command again finishes the work. 'gwbackup list' shows the key \
            each backup needs. Back up with the new password from now on.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @OptionGroup var recipients: RecipientKeyOptions

    @Option(name: .customLong("new-security-pwd-file"), help: "File holding the new security password (or set GWBACKUP_NEW_SECURITY_PWD, or type it twice at the prompt).")
    var newSecurityPasswordFile: String?

    @Option(name: .customLong("backup"), help: "Rotate only this backup (repeatable).")
    var backups: [String] = []

    @Flag(name: .customLong("drop-recovery-keys"), help: "Rotate backups encrypted to recovery keys not given with --recipient-key, leaving those keys out (without it, such a backup fails and stays as it was).")
    var dropRecoveryKeys = false

    @Flag(help: "With --server: follow the rotation to its end (exit code from its status).")
    var wait = false

    @ParentCommand var root: GatewayBackupCommand

    func run() async throws {
        try await CommandSupport.run {
            if self.root.server.isRemote {
                try self.state.refuseForServer()
                try self.deadlines.refuseForServer()
                try self.recipients.refuseForServer()
                let old = try self.password.read(confirm: false)
                let new = try SecretInput.read(file: self.newSecurityPasswordFile, environment: "GWBACKUP_NEW_SECURITY_PWD", prompt: "New security password: ", confirm: true)
                let request = WireRekeyRequest(job: try self.storage.jobStartRequest(securityPassword: old), newSecurityPassword: new, backups: self.backups, dropRecoveryKeys: self.dropRecoveryKeys)
                try await self.runOnServer(request)
                return
            }
            // The rotated files are encrypted to the recovery keys given here (as a backup's are).
            let runtime = try self.recipients.apply(to: CommandSupport.runtime(state: self.state, output: self.output, deadlines: self.deadlines))
            let store = try self.storage.store(runtime: runtime)
            defer { store.close() }
            let old = try self.password.read(confirm: false)
            let new = try SecretInput.read(file: self.newSecurityPasswordFile, environment: "GWBACKUP_NEW_SECURITY_PWD", prompt: "New security password: ", confirm: true)
            let progress = ProgressLine()
            let orchestrator = runtime.orchestrator { progress.show($0) }
            let report = try await BackupRekey(orchestrator: orchestrator, store: store, oldPassphrase: old, newPassphrase: new, backups: self.backups, dropRecoveryKeys: self.dropRecoveryKeys).run()
            progress.end()
            if self.output.json {
                try Format.printJSON(report)
            } else {
                print("rekey \(report.ok ? "OK" : "FAILED"): \(report.location), key \(report.oldKeyID) -> \(report.newKeyID)")
                for outcome in report.backups {
                    print("  " + SafeText.escaped(outcome.backup, limit: 200) + "  " + outcome.result.rawValue + "  " + SafeText.escaped(outcome.message, limit: 2000))
                }
                if report.ok { print("Back up with the new password from now on (key \(report.newKeyID)).") }
            }
            if !report.ok { throw ExitCode(1) }
        }
    }

    /// `POST …/rekey`, then, with --wait, the record until the rotation ends.
    private func runOnServer(_ request: WireRekeyRequest) async throws {
        try await self.root.server.withClient { client in
            let follower = JobFollower(client: client)
            let previous = try await follower.startRekey(request)
            let server = client.configuration.baseURL
            guard self.wait else {
                if self.output.json {
                    try Format.printJSON(["job": "rekey", "server": server, "state": "started"])
                } else {
                    print("rekey started on \(server); follow it with --wait, or GET \(APIClient.servicePath)/rekey")
                }
                return
            }
            let record = try await follower.waitForRekey(after: previous)
            if self.output.json {
                try Format.printJSON(record)
            } else {
                print("rekey \(record.status.rawValue) on \(server): \(SafeText.escaped(record.location, limit: 500))" + (record.message.isEmpty ? "" : ": \(SafeText.escaped(record.message, limit: 2000))"))
                for outcome in record.report?.backups ?? [] {
                    print("  " + SafeText.escaped(outcome.backup, limit: 200) + "  " + outcome.result.rawValue + "  " + SafeText.escaped(outcome.message, limit: 2000))
                }
            }
            if record.status != .completed { throw ExitCode(1) }
        }
    }
}

import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup drill`: restore a backup into a scratch root and read it back, never touching the appliance.
struct DrillCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "drill",
        abstract: "Prove that a backup restores: restore it into a scratch root, check it, and compare.",
        discussion: """
            Each component the appliance's manifest shares with the backup is decrypted, checked by its \
            plugin, restored by its plugin into a private scratch root under the state directory (never \
            the appliance; no service is reloaded), collected again from there, checked again and \
            compared path by path with the backup. The scratch root is removed at the end. Exit 0 when \
            every component came back unchanged, 1 when one did not (it is named). Records \
            gwbackup_last_drill_success_timestamp_seconds for monitoring.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var appliance: ApplianceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @OptionGroup var metrics: MetricsOptions

    @Option(help: "Drill this backup (any appliance's) instead of the newest of this appliance.")
    var backup: String?

    @Option(name: .customLong("appliance"), help: "Drill the newest backup of this appliance (its identifier, as 'list' shows it).")
    var applianceID: String?

    func validate() throws {
        if let applianceID, !ApplianceIdentity.isValid(applianceID) {
            throw ValidationError("--appliance takes an appliance identifier (gw- and 32 hex digits, as 'gwbackup list' shows it)")
        }
    }

    func run() async throws {
        try await CommandSupport.run {
            let job = try LocalJobSetup(storage: self.storage, password: self.password, state: self.state, appliance: self.appliance, output: self.output, deadlines: self.deadlines)
            defer { job.store.close() }
            let (runtime, store, secret, progress, orchestrator) = (job.runtime, job.store, job.secret, job.progress, job.orchestrator)
            let drill = RestoreDrill(
                orchestrator: orchestrator, store: store, passphrase: secret, manifest: try runtime.manifest(path: self.appliance.manifest),
                backup: self.backup, appliance: self.applianceID)
            let report = try await drill.run()
            progress.end()
            self.metrics.write(status: runtime.status)
            if self.output.json {
                try Format.printJSON(report)
            } else {
                print("drill \(report.ok ? "OK" : "FAILED"): \(SafeText.escaped(report.backup)) (\(SafeText.escaped(report.location)))")
                for component in report.components {
                    print("  " + SafeText.escaped(component.name, limit: 64).padding(toLength: 14, withPad: " ", startingAt: 0)
                        + component.status.rawValue.padding(toLength: 9, withPad: " ", startingAt: 0) + SafeText.escaped(component.message, limit: 4000))
                }
            }
            if !report.ok { throw ExitCode(1) }
        }
    }
}

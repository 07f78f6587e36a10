import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import GatewayClient

/// `gwbackup restore`: restore the newest complete backup (or a named one).
struct RestoreCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "restore",
        abstract: "Restore the appliance from the newest complete backup.",
        discussion: "Every selected component is decrypted and verified before anything changes; a failing restorer rolls the appliance back.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var appliance: ApplianceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var concurrency: ConcurrencyOptions
    @OptionGroup var recovery: RecoveryKeyOptions

    @Flag(name: .customLong("no-cert"), help: "Skip certificate-bound components (tagged 'cert'): for replacement hardware.")
    var noCert = false

    @Option(name: .customLong("component"), help: "Restore only this component (repeatable).")
    var components: [String] = []

    @Option(help: "Restore this backup instead of the newest authenticated one.")
    var backup: String?

    @Option(name: .customLong("appliance"), help: "Restore a backup of this appliance (its identifier, as 'list' shows it) instead of this appliance's own: for replacement hardware when several appliances share the path.")
    var applianceID: String?

    @Flag(name: .customLong("dry-run"), help: "Decrypt and verify everything; change nothing.")
    var dryRun = false

    @Flag(name: .customLong("allow-unauthenticated"), help: "Restore a backup that has no authenticated index (format 1, or its index is missing): only on purpose, since whoever controls the store could have altered it.")
    var allowUnauthenticated = false

    @Flag(help: "With --server: follow the job to its end (progress, exit code from its status).")
    var wait = false

    @ParentCommand var root: GatewayBackupCommand

    func validate() throws {
        if let applianceID, !ApplianceIdentity.isValid(applianceID) {
            throw ValidationError("--appliance takes an appliance identifier (gw- and 32 hex digits, as 'gwbackup list' shows it)")
        }
        if self.recovery.isSet && self.backup == nil {
            throw ValidationError("--recovery-key restores one backup on purpose: name it with --backup NAME (gwbackup list shows the names); whoever holds the public key could have written any other")
        }
        if self.allowUnauthenticated && self.backup == nil {
            throw ValidationError("--allow-unauthenticated restores one backup on purpose: name it with --backup NAME")
        }
    }

    func run() async throws {
        try await CommandSupport.run {
            if self.root.server.isRemote {
                try self.appliance.refuseForServer()
                try self.state.refuseForServer()
                try self.metrics.refuseForServer()
                try self.concurrency.refuseForServer()
                try self.deadlines.refuseForServer()
                // The API's extension fields carry --backup, --component and --appliance, and a
                // preview has an endpoint of its own; never these two.
                if self.allowUnauthenticated || self.recovery.isSet {
                    throw ValidationError("--allow-unauthenticated and --recovery-key work on this machine only; the API restores authenticated backups with the security password")
                }
                var request = try self.storage.jobStartRequest(securityPassword: try self.password.read(confirm: false), noCert: self.noCert)
                request.backup = self.backup
                request.components = self.components.isEmpty ? nil : self.components
                request.appliance = self.applianceID
                try await RemoteJob.run(self.dryRun ? .preview : .restore, request, server: self.root.server, wait: self.wait, output: self.output)
                return
            }
            let job = try LocalJobSetup(storage: self.storage, password: self.password, state: self.state, appliance: self.appliance, output: self.output, deadlines: self.deadlines, recovery: self.recovery)
            defer { job.store.close() }
            let (runtime, store, secret, progress) = (job.runtime, job.store, job.secret, job.progress)
            var orchestrator = job.orchestrator
            self.concurrency.apply(to: &orchestrator)
            // The appliance's manifest decides what is restored and how; the backup only carries data.
            let manifest = try runtime.manifest(path: self.appliance.manifest)
            let request = RestoreRequest(
                target: self.storage.target, store: store, manifest: manifest, securityPassword: secret, noCert: self.noCert,
                components: self.components, dryRun: self.dryRun, backup: self.backup, appliance: self.applianceID, allowUnauthenticated: self.allowUnauthenticated,
                jobs: self.concurrency.jobs)
            let record = try await orchestrator.beginRestore(request).run()
            progress.end()
            self.metrics.write(status: runtime.status)
            if self.output.json { try Format.printJSON(record) } else { print(Format.describe(record, job: "restore")) }
            try CommandSupport.finish(record)
        }
    }
}

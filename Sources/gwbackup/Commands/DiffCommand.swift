import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup diff [A] [B]`: what differs between two backups, or between a backup and the appliance.
struct DiffCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "diff",
        abstract: "Show what differs between two backups, or what changed on the appliance since a backup.",
        discussion: """
            With two backups: what changed from the first to the second. With one (or none: the newest \
            of this appliance): what changed on the appliance since that backup, read as a restore's \
            preview reads it (each component collected into private staging; nothing on the appliance \
            changes). Per component and per path: updated (content, kind, mode, owner, link target), \
            added, removed; modification times do not count. `restore --dry-run` shows the same \
            comparison the other way round: what a restore would change.
            """)

    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var appliance: ApplianceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions

    @Argument(help: "The backup to compare from (default: the newest of this appliance).")
    var from: String?

    @Argument(help: "The backup to compare with (default: the appliance as it is now).")
    var to: String?

    @Option(name: .customLong("component"), help: "Compare only this component with the appliance (repeatable).")
    var components: [String] = []

    func validate() throws {
        if self.to != nil && !self.components.isEmpty {
            throw ValidationError("--component limits a comparison with the appliance; two backups are compared whole")
        }
    }

    func run() async throws {
        try await CommandSupport.run {
            let job = try LocalJobSetup(storage: self.storage, password: self.password, state: self.state, appliance: self.appliance, output: self.output, deadlines: self.deadlines)
            defer { job.store.close() }
            let (runtime, store, secret, progress, orchestrator) = (job.runtime, job.store, job.secret, job.progress, job.orchestrator)
            let report: BackupDiff.Report
            if let from = self.from, let to = self.to {
                // The appliance's manifest lets each plugin count what its data holds on both sides.
                let manifest = try runtime.manifest(path: self.appliance.manifest)
                report = try await BackupDiff(orchestrator: orchestrator, store: store, passphrase: secret, manifest: manifest).run(from: from, to: to)
                progress.end()
            } else {
                // With the appliance: a restore's dry run, which takes the job lock and reads the
                // appliance through each component's plugin, seen from the backup.
                var request = RestoreRequest(
                    target: self.storage.target, store: store, manifest: try runtime.manifest(path: self.appliance.manifest), securityPassword: secret,
                    components: self.components, dryRun: true, backup: self.from)
                request.previewSinceBackup = true
                let record = try await orchestrator.beginRestore(request).run()
                progress.end()
                if record.status != .completed {
                    if self.output.json { try Format.printJSON(record) } else { print(Format.describe(record, job: "diff")) }
                    try CommandSupport.finish(record)
                    return
                }
                report = BackupDiff.Report(from: record.backup ?? "", to: "appliance", components: record.components)
            }
            if self.output.json {
                try Format.printJSON(report)
                return
            }
            print("diff \(SafeText.escaped(report.from)) -> \(SafeText.escaped(report.to)): \(report.changed ? "changed" : "no change")")
            for component in report.components {
                print("  " + SafeText.escaped(component.name, limit: 64).padding(toLength: 14, withPad: " ", startingAt: 0)
                    + (component.changes?.summary ?? "\(component.status.rawValue): \(SafeText.escaped(component.message, limit: 2000))"))
                if let changes = component.changes { Format.describe(changes, indent: "      ").forEach { print($0) } }
            }
        }
    }
}

import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import GatewayClient

/// `gwbackup backup`: collect, encrypt and store every component of the manifest.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Take an encrypted backup of the appliance.")

    @OptionGroup var recipients: RecipientKeyOptions
    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var appliance: ApplianceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @OptionGroup var metrics: MetricsOptions
    @OptionGroup var concurrency: ConcurrencyOptions
    @ParentCommand var root: GatewayBackupCommand

    @Option(help: "How archives are compressed before encryption: zstd (level 3), zstd:LEVEL (1-19), or none (gpg's own, format 1's way).")
    var compression: String = "zstd"

    /// The zstd level `--compression` asks for, nil for none.
    func compressionLevel() throws -> Int32? {
        if self.compression == "none" { return nil }
        if self.compression == "zstd" { return BackupRuntime.defaultCompressionLevel }
        guard self.compression.hasPrefix("zstd:"), let level = Int32(self.compression.dropFirst(5)), (1...19).contains(level) else {
            throw ValidationError("--compression must be zstd, zstd:LEVEL (1-19) or none, not '\(self.compression)'")
        }
        return level
    }

    func validate() throws {
        _ = try self.compressionLevel()
        if let runID, !JobRecord.isValidRunID(runID) { throw ValidationError("--run-id must be 1-128 letters, digits or ._:+- characters") }
    }

    @Flag(help: "After the commit, read the whole backup back from the store and decrypt it before reporting COMPLETED.")
    var verify = false

    @Flag(help: "With --server: follow the job to its end (progress, exit code from its status).")
    var wait = false

    @Option(name: .customLong("run-id"), help: "A label kept in the job's status record as run_id (1-128 letters, digits or ._:+-).")
    var runID: String?

    func run() async throws {
        try await CommandSupport.run {
            if self.root.server.isRemote {
                try self.appliance.refuseForServer()
                try self.state.refuseForServer()
                try self.deadlines.refuseForServer()
                try self.metrics.refuseForServer()
                try self.concurrency.refuseForServer()
                try self.recipients.refuseForServer()
                if self.compression != "zstd" || self.verify { throw ValidationError("--compression and --verify are the server's settings; they do not go with --server") }
                var request = try self.storage.jobStartRequest(securityPassword: try self.password.read(confirm: true))
                request.runID = self.runID
                try await RemoteJob.run(.backup, request, server: self.root.server, wait: self.wait, output: self.output)
                return
            }
            let runtime = try self.recipients.apply(to: CommandSupport.runtime(
                state: self.state, appliance: self.appliance, output: self.output, deadlines: self.deadlines, compressionLevel: try self.compressionLevel()))
            let manifest = try runtime.manifest(path: self.appliance.manifest.map(Paths.absolute))
            let store = try self.storage.store(runtime: runtime)
            defer { store.close() }
            let secret = try self.password.read(confirm: true)
            // The last backup's sizes: the share done grows while a large component is written. An
            // unreadable status is the job's to report; the estimate then counts components only.
            let sizes = (try? runtime.status.backupStatus().lastSuccessful?.components) ?? []
            let progress = ProgressLine(expectedBytes: Dictionary(sizes.compactMap { c in c.bytes.map { (c.name, $0) } }, uniquingKeysWith: { a, _ in a }))
            var orchestrator = runtime.orchestrator { progress.show($0) }
            self.concurrency.apply(to: &orchestrator)
            let job = try await orchestrator.beginBackup(BackupRequest(target: self.storage.target, store: store, manifest: manifest, securityPassword: secret, verifyAfterCommit: self.verify, runID: self.runID, jobs: self.concurrency.jobs))
            let record = await job.run()
            progress.end()
            self.metrics.write(status: runtime.status)
            if self.output.json { try Format.printJSON(record) } else { print(Format.describe(record, job: "backup")) }
            try CommandSupport.finish(record)
        }
    }
}

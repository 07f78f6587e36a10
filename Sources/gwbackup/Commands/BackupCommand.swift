import ArgumentParser
import BackupCore
import BackupRuntime
import GatewayClient

/// `gwbackup backup`: collect, encrypt and store every component of the manifest.
struct BackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "backup", abstract: "Take an encrypted backup of the appliance.")

    @OptionGroup var storage: StorageOptions
    @OptionGroup var password: SecurityPasswordOptions
    @OptionGroup var appliance: ApplianceOptions
    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @OptionGroup var deadlines: DeadlineOptions
    @ParentCommand var root: GatewayBackupCommand

    @Flag(help: "With --server: follow the job to its end (progress, exit code from its status).")
    var wait = false

    func run() async throws {
        try await CommandSupport.run {
            if self.root.server.isRemote {
                try self.appliance.refuseForServer()
                try self.state.refuseForServer()
                try self.deadlines.refuseForServer()
                let request = try self.storage.jobStartRequest(securityPassword: try self.password.read(confirm: true))
                try await RemoteJob.run(.backup, request, server: self.root.server, wait: self.wait, output: self.output)
                return
            }
            let runtime = CommandSupport.runtime(state: self.state, appliance: self.appliance, output: self.output, deadlines: self.deadlines)
            let manifest = try runtime.manifest(path: self.appliance.manifest.map(Paths.absolute))
            let store = try self.storage.store(runtime: runtime)
            let secret = try self.password.read(confirm: true)
            let progress = ProgressLine()
            let orchestrator = runtime.orchestrator { progress.show($0) }
            let job = try orchestrator.beginBackup(BackupRequest(target: self.storage.target, store: store, manifest: manifest, securityPassword: secret))
            let record = await job.run()
            progress.end()
            if self.output.json { try Format.printJSON(record) } else { print(Format.describe(record, job: "backup")) }
            try CommandSupport.finish(record)
        }
    }
}

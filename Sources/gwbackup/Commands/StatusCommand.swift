import ArgumentParser
import BackupCore
import BackupRuntime
import GatewayClient

/// `gwbackup status`: the backup and restore status, as the API reports it.
struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "status", abstract: "Show the backup and restore status.")

    @OptionGroup var state: StateOptions
    @OptionGroup var output: OutputOptions
    @ParentCommand var root: GatewayBackupCommand

    /// Both statuses, as `--json` prints them.
    struct Both: Encodable {
        var backup: BackupStatus
        var restore: JobRecord
    }

    func run() async throws {
        try await CommandSupport.run {
            let backup: BackupStatus
            let restore: JobRecord
            if self.root.server.isRemote {
                try self.state.refuseForServer()
                (backup, restore) = try await self.root.server.withClient { client in
                    (try await client.backupStatus(), try await client.restoreStatus())
                }
            } else {
                let runtime = CommandSupport.runtime(state: self.state, output: self.output)
                // A job left EXECUTING by a process that died is reported as interrupted.
                try runtime.status.recoverInterrupted()
                backup = try runtime.status.backupStatus()
                restore = try runtime.status.restoreStatus()
            }
            try self.show(backup: backup, restore: restore)
        }
    }

    private func show(backup: BackupStatus, restore: JobRecord) throws {
        if self.output.json {
            try Format.printJSON(Both(backup: backup, restore: restore))
            return
        }
        if let last = backup.lastSuccessful {
            print("last successful backup: \(last.backup ?? "") at \(Format.time(last.timeStamp)) in \(last.subdir)")
        } else {
            print("last successful backup: none")
        }
        print(backup.running.status == .none ? "backup: NONE" : Format.describe(backup.running, job: "backup"))
        print(restore.status == .none ? "restore: NONE" : Format.describe(restore, job: "restore"))
    }
}

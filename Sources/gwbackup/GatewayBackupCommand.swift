import ArgumentParser
import BackupCore

/// `gwbackup`: back up and restore a Flow Gateway.
@main
struct GatewayBackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gwbackup",
        abstract: "Back up and restore a Flow Gateway: encrypted, verifiable, local or over SFTP.",
        discussion: """
            Exit codes: 0 success; 1 the job or verification failed; 2 invalid input (manifest, \
            options, files); 3 another job is running; 4 no usable backup found; 64 usage error.
            Secrets are read from files, environment variables or a terminal prompt, never from arguments.
            """,
        version: GatewayBackupVersion.current,
        subcommands: [
            BackupCommand.self, RestoreCommand.self, ListCommand.self, VerifyCommand.self, StatusCommand.self,
            PluginsCommand.self, ManifestCommand.self, DemoCommand.self, ServeCommand.self, UserCommand.self,
        ])
}

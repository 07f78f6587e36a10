import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation

/// `gwbackup`: back up and restore a Flow Gateway.
@main
struct GatewayBackupCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gwbackup",
        abstract: "Back up and restore a Flow Gateway: encrypted, verifiable, local or over SFTP.",
        discussion: """
            Exit codes: 0 success; 1 the job or verification failed, or the server could not be reached; \
            2 invalid input (manifest, options, files, credentials the server refused); 3 another job is \
            running; 4 no usable backup found; 64 usage error.
            With --server https://HOST[:PORT], status, backup and restore drive a running `gwbackup serve` \
            over the API instead of this machine (backup and restore take --wait).
            Secrets are read from files, environment variables or a terminal prompt, never from arguments.
            """,
        version: GatewayBackupVersion.current,
        subcommands: [
            BackupCommand.self, RestoreCommand.self, ListCommand.self, VerifyCommand.self, StatusCommand.self,
            DiffCommand.self, DrillCommand.self, RekeyCommand.self, PruneCommand.self, SchedulesCommand.self, PluginsCommand.self, ManifestCommand.self, DemoCommand.self, ServeCommand.self, UserCommand.self, CompletionsCommand.self,
        ])

    @OptionGroup var server: ServerOptions

    /// The commands that can go to a server; any other with `--server` is a usage error rather than
    /// a silent run on this machine.
    static let serverCommands: [any ParsableCommand.Type] = [StatusCommand.self, BackupCommand.self, RestoreCommand.self, RekeyCommand.self]

    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try self.parseAsRoot(arguments)
            let remote = arguments.contains { $0 == "--server" || $0.hasPrefix("--server=") }
            if remote && !(command is GatewayBackupCommand) && !self.serverCommands.contains(where: { type(of: command) == $0 }) {
                throw ValidationError("--server works with status, backup, restore and rekey only")
            }
            if var command = command as? any AsyncParsableCommand {
                try await command.run()
            } else {
                try command.run()
            }
        } catch {
            self.exit(withError: error)
        }
    }
}

import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation
import GatewayAPI

/// `gwbackup serve`: the HTTPS server of the Backup/Restore API v1.0.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the Backup/Restore API v1.0 over HTTPS.",
        discussion: "Settings come from --config (JSON, see docs/api.md); flags override them. Users: gwbackup user add NAME.")

    @Option(help: "Configuration file (JSON).")
    var config: String?

    @Option(help: "HOST:PORT to listen on (default 0.0.0.0:8443).")
    var listen: String?

    @Option(name: .customLong("state-dir"), help: "State directory.")
    var stateDirectory: String?

    @Option(help: "Appliance root.")
    var root: String?

    @Option(help: "Manifest (default: the shipped one).")
    var manifest: String?

    @Option(name: .customLong("backup-dir"), help: "Local backup directory for hostname \"localhost\".")
    var backupDirectory: String?

    @Option(name: .customLong("plugin-dir"), help: "Another plugin directory (repeatable).")
    var pluginDirectories: [String] = []

    @Flag(name: .customLong("no-sandbox"), help: "Run external plugin steps without the sandbox (only where the machine cannot make one).")
    var noSandbox = false

    @OptionGroup var output: OutputOptions

    func run() async throws {
        try await CommandSupport.run {
            var configuration = try self.config.map { try APIConfiguration.load(path: Paths.absolute($0)) } ?? APIConfiguration()
            if let listen { configuration.listen = listen }
            if let stateDirectory { configuration.stateDirectory = Paths.absolute(stateDirectory) }
            if let root { configuration.applianceRoot = Paths.absolute(root) }
            if let manifest { configuration.manifest = Paths.absolute(manifest) }
            if let backupDirectory { configuration.backupDirectory = Paths.absolute(backupDirectory) }
            configuration.pluginDirectories += self.pluginDirectories.map(Paths.absolute)
            // Every request logs a line: written by a thread of its own, so that a stderr that stops
            // draining costs log lines (counted, reported) instead of stopping the server.
            let logWriter = LogLineWriter(fileDescriptor: STDERR_FILENO)
            defer { logWriter.drain(timeout: .seconds(2)) }
            let logger = CommandSupport.bootstrapLogging(self.output.debug ? .debug : .info, writer: logWriter)
            // Recovery keys are checked now: an expired one is a start-up error, not a night of backups without it.
            let runtime = try BackupRuntime(
                settings: .init(stateDirectory: configuration.stateDirectory, applianceRoot: configuration.applianceRoot, pluginDirectories: configuration.pluginDirectories, sandboxPluginSteps: !self.noSandbox),
                logger: logger).with(recipientKeyFiles: configuration.recipientKeys)
            if self.noSandbox {
                logger.warning("--no-sandbox: external plugin steps run unconfined; they can change any file on this machine")
            }
            // A restore that died midway is rolled back before the server takes requests.
            do {
                if let note = try await runtime.orchestrator().recover() {
                    logger.warning("recovered after an interrupted job", metadata: ["recovery": "\(note)"])
                }
            } catch let error as BackupError where error.code == .busy {
                logger.warning("a job of another process is running on this state directory; recovery left to it", metadata: ["holder": "\(error.message)"])
            }
            let host = try configuration.address().host
            let application = try GatewayServer.buildApplication(configuration: configuration, runtime: runtime, logger: logger) { port in
                // Unbuffered: scripts and service managers wait for this line.
                FileHandle.standardOutput.write(Data("gwbackup serving https://\(host == "0.0.0.0" ? "localhost" : host):\(port)\n".utf8))
            }
            try await application.runService()
            // SIGTERM or SIGINT: a job still running here will not finish; say so instead of EXECUTING.
            if try runtime.status.recoverOwnInterruptedJob() {
                logger.warning("a running job was interrupted by the shutdown")
            }
        }
    }
}

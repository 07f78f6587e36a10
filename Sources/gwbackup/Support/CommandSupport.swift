import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation
import GatewayAPI
import Logging

/// What every command does the same way: logging, the runtime, and errors as exit codes.
enum CommandSupport {
    /// Sets up logging to stderr once per process: written by the logging thread itself, or, with
    /// `writer`, queued to that writer's own thread (a server must not stop when its stderr does).
    static func bootstrapLogging(_ level: Logger.Level, writer: LogLineWriter? = nil) -> Logger {
        LoggingSystem.bootstrap { label in
            if let writer {
                var handler = ServerLogHandler(label: label, writer: writer, metadataProvider: LoggingSystem.metadataProvider)
                handler.logLevel = level
                return handler
            }
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "gwbackup")
    }

    static func runtime(state: StateOptions, appliance: ApplianceOptions? = nil, output: OutputOptions, deadlines: DeadlineOptions? = nil, compressionLevel: Int32? = BackupRuntime.defaultCompressionLevel) -> BackupRuntime {
        let logger = bootstrapLogging(output.logLevel)
        if appliance?.noSandbox == true {
            logger.warning("--no-sandbox: external plugin steps run unconfined; they can change any file on this machine")
        }
        return BackupRuntime(
            settings: .init(
                stateDirectory: state.resolvedStateDirectory,
                applianceRoot: Paths.absolute(appliance?.root ?? "/"),
                pluginDirectories: (appliance?.pluginDirectories ?? []).map(Paths.absolute),
                jobDeadlineSeconds: deadlines?.jobDeadline ?? DeadlineOptions.defaultJobDeadline,
                transferDeadlineSeconds: deadlines?.transferDeadline ?? DeadlineOptions.defaultTransferDeadline,
                compressionLevel: compressionLevel,
                sandboxPluginSteps: !(appliance?.noSandbox ?? false)),
            logger: logger)
    }

    /// The exit code for an error.
    static func exitCode(for error: BackupError) -> Int32 {
        switch error.code {
        case .invalidInput, .invalidManifest, .authentication: 2
        case .busy: 3
        case .notFound: 4
        default: 1
        }
    }

    /// Runs `body`, turning a `BackupError` into a message on stderr and its exit code.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as BackupError {
            FileHandle.standardError.write(Data("gwbackup: \(error.description)\n".utf8))
            throw ExitCode(exitCode(for: error))
        }
    }

    /// Ends the command with the exit code of a finished job.
    static func finish(_ record: JobRecord) throws {
        if record.status != .completed { throw ExitCode(1) }
    }
}

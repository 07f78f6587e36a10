import ArgumentParser
import BackupRuntime
import Foundation

/// Where status, the job lock and staging live.
struct StateOptions: ParsableArguments {
    @Option(name: .customLong("state-dir"), help: "State directory (status, job lock, staging). Default: $GWBACKUP_STATE_DIR or /var/lib/gwbackup.")
    var stateDirectory: String?

    /// Refuses the option for a command sent to a server, which keeps its own state.
    func refuseForServer() throws {
        if self.stateDirectory != nil { throw ValidationError("--state-dir is the server's setting; it does not go with --server") }
    }

    var resolvedStateDirectory: String {
        let chosen = self.stateDirectory ?? ProcessInfo.processInfo.environment["GWBACKUP_STATE_DIR"] ?? BackupRuntime.defaultStateDirectory
        return Paths.absolute(chosen)
    }
}

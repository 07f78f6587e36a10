import BackupCore
import BackupModel
import BackupPOSIX
import ArgumentParser

/// `--jobs N`: how many components a backup or restore works on at once.
struct ConcurrencyOptions: ParsableArguments {
    @Option(help: "Components worked on at once (collect, archive, compress, encrypt, store; for a restore: decrypt, unpack, verify). Default: one per core. A restore applies them one after another in the manifest's order.")
    var jobs: Int?

    @Option(help: "Nice value (0-19) of the job's work and of the processes it starts (gpg, plugins), so that the appliance's own services keep the CPU; 0 runs it as this command. Default 10.")
    var nice: Int32?

    /// Refuses the option for a command sent to a server, which decides for itself.
    func refuseForServer() throws {
        if self.jobs != nil || self.nice != nil { throw ValidationError("--jobs and --nice are the server's settings; they do not go with --server") }
    }

    func validate() throws {
        if let jobs, !(1...64).contains(jobs) { throw ValidationError("--jobs must be between 1 and 64, not \(jobs)") }
        if let nice, !(0...19).contains(nice) { throw ValidationError("--nice must be between 0 and 19, not \(nice)") }
    }

    /// Sets the job's nice value on `orchestrator` when one was given.
    func apply(to orchestrator: inout Orchestrator) {
        if let nice = self.nice { orchestrator.jobNiceness = nice }
    }
}

import ArgumentParser

/// `--jobs N`: how many components a backup or restore works on at once.
struct ConcurrencyOptions: ParsableArguments {
    @Option(help: "Components worked on at once (collect, archive, compress, encrypt, store; for a restore: decrypt, unpack, verify). Default: one per core. A restore applies them one after another in the manifest's order.")
    var jobs: Int?

    /// Refuses the option for a command sent to a server, which decides for itself.
    func refuseForServer() throws {
        if self.jobs != nil { throw ValidationError("--jobs is the server's setting; it does not go with --server") }
    }

    func validate() throws {
        if let jobs, !(1...64).contains(jobs) { throw ValidationError("--jobs must be between 1 and 64, not \(jobs)") }
    }
}

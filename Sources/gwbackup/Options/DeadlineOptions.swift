import ArgumentParser

/// How long a job, and one transfer to or from a remote store, may take.
struct DeadlineOptions: ParsableArguments {
    static let defaultJobDeadline: Double = 6 * 3600
    static let defaultTransferDeadline: Double = 3600

    @Option(name: .customLong("job-deadline"), help: "Stop the job after this many seconds (a restore is rolled back). Default 21600 (6 h).")
    var jobDeadline: Double = Self.defaultJobDeadline

    @Option(name: .customLong("transfer-deadline"), help: "Fail a file transfer to or from a remote store that takes longer than this many seconds. Default 3600.")
    var transferDeadline: Double = Self.defaultTransferDeadline

    /// Refuses the options for a command sent to a server, which has its own deadlines.
    func refuseForServer() throws {
        if self.jobDeadline != Self.defaultJobDeadline || self.transferDeadline != Self.defaultTransferDeadline {
            throw ValidationError("--job-deadline and --transfer-deadline are the server's settings; they do not go with --server")
        }
    }

    func validate() throws {
        for (name, value) in [("--job-deadline", self.jobDeadline), ("--transfer-deadline", self.transferDeadline)] {
            guard value.isFinite, value >= 1, value <= 30 * 86400 else {
                throw ValidationError("\(name) must be between 1 and 2592000 seconds (30 days)")
            }
        }
    }
}

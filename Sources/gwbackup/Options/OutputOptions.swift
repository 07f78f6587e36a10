import ArgumentParser
import Logging

/// How a command reports.
struct OutputOptions: ParsableArguments {
    @Flag(help: "Print machine-readable JSON on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log what happens (to stderr).")
    var verbose = false

    @Flag(help: "Log everything, including plugin runs (to stderr).")
    var debug = false

    var logLevel: Logger.Level { self.debug ? .debug : (self.verbose ? .info : .warning) }
}

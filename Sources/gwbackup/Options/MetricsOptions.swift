import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupMetrics
import Foundation

/// `--metrics-file`: the appliance's metrics, written for node_exporter's textfile collector.
struct MetricsOptions: ParsableArguments {
    @Option(name: .customLong("metrics-file"), help: "After the command, write the metrics (Prometheus text, as GET /metrics) to FILE atomically, for node_exporter's textfile collector (e.g. /var/lib/node_exporter/textfile/gwbackup.prom).")
    var metricsFile: String?

    func refuseForServer() throws {
        if self.metricsFile != nil { throw ValidationError("--metrics-file: with --server, scrape the server's /metrics instead") }
    }

    /// Writes the file when one was asked for. A failure is reported on stderr and does not change
    /// the command's result: the job's outcome is in its status either way.
    func write(status: StatusStore) {
        guard let path = self.metricsFile else { return }
        do {
            try MetricsExposition.load(from: status).write(to: Paths.absolute(path))
        } catch {
            FileHandle.standardError.write(Data("gwbackup: cannot write the metrics file \(path): \(BackupError.wrap(error).message)\n".utf8))
        }
    }
}

import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayClient
import GatewayWire

/// `backup` and `restore` sent to a server: start the job over the API and, with `--wait`, follow
/// it to its end with a progress line; the exit code comes from the final status.
enum RemoteJob {
    static func run(_ kind: JobKind, _ request: WireJobRequest, server: ServerOptions, wait: Bool, output: OutputOptions) async throws {
        try await server.withClient { client in
            try await self.run(kind, request, client: client, wait: wait, output: output)
        }
    }

    private static func run(_ kind: JobKind, _ request: WireJobRequest, client: APIClient, wait: Bool, output: OutputOptions) async throws {
        let follower = JobFollower(client: client)
        let previous = try await follower.start(kind, request)
        let server = client.configuration.baseURL
        guard wait else {
            if output.json {
                try Format.printJSON(["job": kind.rawValue, "server": server, "state": "started"])
            } else {
                print("\(kind.rawValue) started on \(server); follow it with: gwbackup --server \(server) status (or start it with --wait)")
            }
            return
        }
        let progress = ProgressLine()
        let record = try await follower.wait(kind, after: previous) { record in
            progress.show(self.progressEvent(record, kind: kind))
        }
        progress.end()
        if output.json { try Format.printJSON(record) } else { print(Format.describe(record, job: kind.rawValue)) }
        try CommandSupport.finish(record)
    }

    /// A progress event from a polled record: the component running, and how many are done.
    static func progressEvent(_ record: JobRecord, kind: JobKind) -> JobProgress {
        let running = record.components.first { $0.status == .running }
        let total = record.progress?.totalComponents ?? record.components.count
        return JobProgress(
            job: kind.rawValue, phase: record.status == .executing ? "running" : record.status.rawValue.lowercased(),
            component: running?.name, completedComponents: record.progress?.completedComponents ?? 0,
            totalComponents: max(total, 1), bytes: record.progress?.bytes ?? 0)
    }
}

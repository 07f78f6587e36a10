import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// `GET /metrics` on the real server, checked with promtool (Debian's prometheus package).
@Suite("Metrics", .serialized)
struct MetricsTests {
    static let base = "/api/mgmt.gateway_backup/1.0"

    func fixture() throws -> Fixture {
        let fixture = try Fixture("metrics")
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        return fixture
    }

    /// The exposition, after promtool has checked it; and its samples by series.
    func scrape(_ server: APIServer) async throws -> [String: Double] {
        let answer = try await server.call("GET", "/metrics")
        #expect(answer.status == 200, "\(answer.body)")
        #expect(answer.contentType.hasPrefix("text/plain; version=0.0.4"), "\(answer.contentType)")
        let file = server.fixture.directory.sub("metrics-\(UUID().uuidString.prefix(6)).prom")
        try FileTree.writeAtomically(Data(answer.body.utf8), to: file)
        let check = try shell("promtool check metrics < \(file) 2>&1; echo \"rc=$?\"").output
        #expect(check.hasSuffix("rc=0\n") || check.contains("rc=0"), "promtool: \(check)")
        var samples: [String: Double] = [:]
        for line in answer.body.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " ") else { continue }
            samples[String(line[..<space])] = Double(line[line.index(after: space)...])
        }
        return samples
    }

    @Test func metricsBeforeAnyJobAfterASuccessAndAfterAFailureSurviveARestart() async throws {
        let fixture = try self.fixture()
        var server = try await APIServer.start(fixture)
        #expect(try await server.call("GET", "/metrics", user: nil).status == 401)
        #expect(try await server.call("GET", "/metrics", password: "wrong").status == 401)

        var samples = try await self.scrape(server)
        #expect(samples[#"gwbackup_job_runs_total{operation="backup",result="completed"}"#] == 0)
        #expect(samples[#"gwbackup_last_success_timestamp_seconds{operation="backup"}"#] == 0, "0: never")
        #expect(samples[#"gwbackup_job_in_progress{operation="backup"}"#] == 0)
        #expect(samples["gwbackup_backup_size_bytes"] == 0)
        #expect(!samples.keys.contains { $0.contains("component=") })

        let before = Date().timeIntervalSince1970
        #expect(try await server.call("POST", "\(Self.base)/backup", body: #"{"hostname":"localhost","security_pwd":"s"}"#).status == 204)
        let done = try await server.waitForJob("\(Self.base)/backup")
        #expect(done["status"] as? String == "COMPLETED")
        samples = try await self.scrape(server)
        #expect(samples[#"gwbackup_job_runs_total{operation="backup",result="completed"}"#] == 1)
        #expect(samples[#"gwbackup_job_runs_total{operation="backup",result="error"}"#] == 0)
        #expect((samples[#"gwbackup_last_success_timestamp_seconds{operation="backup"}"#] ?? 0) >= before.rounded(.down))
        #expect(samples[#"gwbackup_job_duration_seconds_count{operation="backup"}"#] == 1)
        #expect((samples["gwbackup_backup_size_bytes"] ?? 0) > 1000)
        for component in ["config", "cloak_key", "snmp", "ntp", "certificates"] {
            #expect((samples[#"gwbackup_component_last_success_timestamp_seconds{component="\#(component)"}"#] ?? 0) > 0, "\(component)")
        }
        // No job id, backup name or path in any label.
        let text = try await server.call("GET", "/metrics").body
        #expect(!text.contains(done["id"] as? String ?? "-") && !text.contains("flowgateway-") && !text.contains(fixture.backups))

        // A backup that fails (nothing listens on port 1 of the SFTP host).
        let failing = #"{"hostname":"127.0.0.1","port":1,"username":"u","password":"p","path":"/x","security_pwd":"s"}"#
        #expect(try await server.call("POST", "\(Self.base)/backup", body: failing).status == 204)
        var failed = try await server.waitForJob("\(Self.base)/backup")
        let deadline = ContinuousClock.now + .seconds(60)
        while failed["id"] as? String == done["id"] as? String, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(100))
            failed = try await server.waitForJob("\(Self.base)/backup")
        }
        #expect(failed["status"] as? String == "ERROR", "\(failed)")
        samples = try await self.scrape(server)
        #expect(samples[#"gwbackup_job_runs_total{operation="backup",result="error"}"#] == 1)
        #expect(samples[#"gwbackup_job_runs_total{operation="backup",result="completed"}"#] == 1)
        #expect((samples[#"gwbackup_last_attempt_timestamp_seconds{operation="backup"}"#] ?? 0) > (samples[#"gwbackup_last_success_timestamp_seconds{operation="backup"}"#] ?? 0) - 2)
        #expect(samples[#"gwbackup_job_duration_seconds_count{operation="backup"}"#] == 2)

        // A restart: the counters and times are read back from the state directory.
        await server.stop()
        server = try await APIServer.start(fixture)
        let again = try await self.scrape(server)
        for key in [#"gwbackup_job_runs_total{operation="backup",result="error"}"#, #"gwbackup_job_runs_total{operation="backup",result="completed"}"#,
                    #"gwbackup_last_success_timestamp_seconds{operation="backup"}"#, #"gwbackup_job_duration_seconds_sum{operation="backup"}"#, "gwbackup_backup_size_bytes"] {
            #expect(again[key] == samples[key], "\(key)")
        }
        await server.stop()
    }

    @Test func schedulesAppearInTheBackupStatusAndTheMetrics() async throws {
        let fixture = try self.fixture()
        let credentials = fixture.directory.sub("nightly.credentials")
        try FileTree.writeAtomically(Data(#"{"security_pwd": "s"}"#.utf8), to: credentials, mode: 0o600)
        let schedule = ScheduleConfiguration(
            name: "nightly", cron: "15 2 * * *", timeZone: "Europe/Paris", destination: .init(hostname: "localhost", path: fixture.backups),
            credentialsFile: credentials, retention: RetentionPolicy(keepDaily: 7))
        let server = try await APIServer.start(fixture) { $0.schedules = [schedule] }
        let status = try #require(try await server.call("GET", "\(Self.base)/backup").json as? [[String: Any]])
        let schedules = try #require(status.first?["schedules"] as? [[String: Any]])
        #expect(schedules.count == 1 && schedules[0]["name"] as? String == "nightly" && schedules[0]["time_zone"] as? String == "Europe/Paris")
        let next = try #require(schedules[0]["next_run"] as? Int)
        #expect(next > Int(Date().timeIntervalSince1970) && next <= Int(Date().timeIntervalSince1970) + 86400 + 3600)
        let samples = try await self.scrape(server)
        #expect(samples[#"gwbackup_schedule_next_run_timestamp_seconds{schedule="nightly"}"#] == Double(next))
        #expect(samples[#"gwbackup_schedule_interval_seconds{schedule="nightly"}"#].map { (82800...90000).contains($0) } == true)
        #expect(samples[#"gwbackup_schedule_last_skipped_timestamp_seconds{schedule="nightly"}"#] == 0)
        await server.stop()

        // A credentials file others can read stops the server at start, naming the schedule.
        _ = try shell("chmod 644 \(credentials)")
        await #expect(throws: BackupError.self) { _ = try await APIServer.start(fixture) { $0.schedules = [schedule] } }
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// The shipped scrape configuration and alert rules in a real Prometheus (Debian's package) against
/// a real `gwbackup serve` (issue 24: rules selecting `{job="backup"}` never fired, since a scrape
/// renames the metrics' own `job` label to `exported_job`; `promtool test rules` could not tell, its
/// series being written by hand). Only the intervals, the targets, the paths and the rules' `for:`
/// durations are changed, so the test waits seconds, not the rules' minutes.
@Suite("Alerts in a real Prometheus", .serialized)
struct PrometheusAlertTests {
    /// Prometheus' answer to an HTTP API call, parsed.
    static func api(_ port: Int, _ path: String) throws -> [String: Any] {
        let answer = try shell("curl -s --max-time 5 http://127.0.0.1:\(port)\(path)").output
        return (try? JSONSerialization.jsonObject(with: Data(answer.utf8))) as? [String: Any] ?? [:]
    }

    /// The alerts Prometheus has now: name, state (pending, firing) and labels.
    static func alerts(_ port: Int) throws -> [(name: String, state: String, labels: [String: String])] {
        let alerts = ((try api(port, "/api/v1/alerts")["data"] as? [String: Any])?["alerts"] as? [[String: Any]]) ?? []
        return alerts.map { alert in
            let labels = alert["labels"] as? [String: String] ?? [:]
            return (labels["alertname"] ?? "", alert["state"] as? String ?? "", labels)
        }
    }

    /// Polls `condition` every 250 ms until it holds or `seconds` pass.
    static func wait(_ seconds: Int, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(250))
        }
        return try condition()
    }

    @Test func aFailedBackupFiresLastRunFailedAndPresentMetricsKeepMetricsAbsentSilent() async throws {
        let fixture = try Fixture("prometheus")
        let users = UserStore(path: fixture.state + "/users.json")
        try users.set("operator", password: Secret("operator-password"))
        try users.set("prometheus", password: Secret("scrape-password"))
        // Stopped at the end; if the test ends early, its deinit kills it.
        let server = try await ServeProcess(fixture)
        let directory = fixture.directory

        // The shipped files, with this test's targets, paths and intervals.
        let docs = Fixture.repository + "/docs"
        var configuration = String(decoding: try FileTree.readFile(docs + "/prometheus.yml"), as: UTF8.self)
        try directory.write("prometheus/scrape.password", "scrape-password\n", mode: 0o600)
        for (shipped, here) in [
            ("scrape_interval: 60s", "scrape_interval: 1s"), ("evaluation_interval: 60s", "evaluation_interval: 1s"),
            ("ca_file: /etc/prometheus/gateways-ca.pem", "ca_file: \(fixture.state)/tls/server.crt, server_name: localhost"),
            ("password_file: /etc/prometheus/gwbackup.password", "password_file: \(directory.sub("prometheus/scrape.password"))"),
            (#"targets: ["gw1.example.net:8443", "gw2.example.net:8443"]"#, #"targets: ["127.0.0.1:\#(server.port)"]"#),
            ("/etc/prometheus/rules/gwbackup-alerts.yml", directory.sub("prometheus/alerts.yml")),
        ] {
            #expect(configuration.contains(shipped), "docs/prometheus.yml no longer says \(shipped)")
            configuration = configuration.replacingOccurrences(of: shipped, with: here)
        }
        try directory.write("prometheus/prometheus.yml", configuration)
        let rules = String(decoding: try FileTree.readFile(docs + "/alerts.yml"), as: UTF8.self)
            .replacingOccurrences(of: #"for: \d+[smh]"#, with: "for: 0s", options: .regularExpression)
        try directory.write("prometheus/alerts.yml", rules)

        let port = try #require(Int(try shell(#"python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'"#).output.trimmingCharacters(in: .whitespacesAndNewlines)))
        let prometheus = try startInBackground(
            "/usr/bin/prometheus --config.file=\(directory.sub("prometheus/prometheus.yml")) --storage.tsdb.path=\(directory.sub("prometheus/data")) --web.listen-address=127.0.0.1:\(port)",
            output: directory.sub("prometheus/output"))
        defer { signalBackground(prometheus, SIGKILL) }

        // The target is scraped: up, over TLS with basic auth.
        let up = try await Self.wait(60) {
            let targets = ((try Self.api(port, "/api/v1/targets")["data"] as? [String: Any])?["activeTargets"] as? [[String: Any]]) ?? []
            return targets.first?["health"] as? String == "up"
        }
        let log = { (try? FileTree.readFile(directory.sub("prometheus/output"))).map { String(decoding: $0.suffix(3000), as: UTF8.self) } ?? "" }
        let targets = try Self.api(port, "/api/v1/targets")
        #expect(up, "the target never came up: \(targets) \(log())")
        // The metrics arrive with their own labels intact, beside the target's.
        let series = ((try Self.api(port, "/api/v1/series?match[]=gwbackup_job_in_progress")["data"] as? [[String: String]]) ?? [])
        #expect(series.contains { $0["operation"] == "backup" && $0["job"] == "gwbackup" && $0["exported_job"] == nil }, "\(series)")
        // A few evaluations with the metrics present: neither "last run failed" nor "metrics absent".
        try await Task.sleep(for: .seconds(3))
        let before = try Self.alerts(port)
        #expect(!before.contains { ["GatewayBackupMetricsAbsent", "GatewayBackupLastRunFailed"].contains($0.name) }, "\(before)")

        // A backup that fails: its SFTP host refuses the connection.
        try directory.write("auth-header", "Authorization: Basic \(Data("operator:operator-password".utf8).base64EncodedString())\n", mode: 0o600)
        let body = #"{"hostname":"127.0.0.1","port":1,"username":"u","password":"p","path":"/none","security_pwd":"s3cret-pass"}"#
        let posted = try shell("curl -sk -o /dev/null -w '%{http_code}' -H @\(directory.sub("auth-header")) -H 'Content-Type: application/json' -X POST -d '\(body)' https://127.0.0.1:\(server.port)/api/mgmt.gateway_backup/1.0/backup").output
        #expect(posted == "204")
        var firing: [String: String] = [:]
        let fired = try await Self.wait(60) {
            firing = try Self.alerts(port).first { $0.name == "GatewayBackupLastRunFailed" && $0.state == "firing" }?.labels ?? [:]
            return !firing.isEmpty
        }
        let after = try Self.alerts(port)
        #expect(fired, "GatewayBackupLastRunFailed did not fire: \(after)")
        #expect(firing["instance"] == "127.0.0.1:\(server.port)" && firing["operation"] == "backup" && firing["severity"] == "warning", "\(firing)")
        #expect(!(try Self.alerts(port)).contains { $0.name == "GatewayBackupMetricsAbsent" }, "metrics absent while they are scraped")
        try await server.stop()
    }
}

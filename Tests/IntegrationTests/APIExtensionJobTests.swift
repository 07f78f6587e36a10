import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// The API's extension jobs (issue 26): a restore's preview (`POST …/restore/preview`), which
/// changes nothing and is no restore, and a password rotation (`POST …/rekey`), an admin's job.
@Suite("API extension jobs", .serialized)
struct APIExtensionJobTests {
    static let base = APIServerTests.base
    static let secret = "api extension password"

    func fixture() throws -> Fixture {
        let fixture = try Fixture("api-ext")
        let users = UserStore(path: fixture.state + "/users.json")
        try users.set("admin", password: Secret("admin-password"), role: .admin)
        try users.set("ops", password: Secret("ops-password"), role: .operator)
        try users.set("scrape", password: Secret("scrape-password"), role: .viewer)
        return fixture
    }

    /// Polls `GET path` until a record other than `previous` (by id) has ended.
    func waitForNew(_ server: APIServer, _ path: String, after previous: String?) async throws -> [String: Any] {
        for _ in 0..<300 {
            let record = try await server.call("GET", path, user: "admin", password: "admin-password").object
            if let status = record["status"] as? String, !["EXECUTING", "NONE"].contains(status), record["id"] as? String != previous { return record }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BackupError(.system, "no new record at \(path)")
    }

    func backup(_ server: APIServer, password: String = Self.secret) async throws -> [String: Any] {
        let before = ((try await server.call("GET", Self.base + "/backup", user: "admin", password: "admin-password").json as? [[String: Any]])?.first?["running"] as? [String: Any])?["id"] as? String
        #expect(try await server.call("POST", Self.base + "/backup", body: #"{"hostname":"localhost","security_pwd":"\#(password)"}"#, user: "admin", password: "admin-password").status == 204)
        for _ in 0..<600 {
            let running = ((try await server.call("GET", Self.base + "/backup", user: "admin", password: "admin-password").json as? [[String: Any]])?.first?["running"] as? [String: Any]) ?? [:]
            if running["id"] as? String != before, let status = running["status"] as? String, status != "EXECUTING" { return running }
            try await Task.sleep(for: .milliseconds(200))
        }
        throw BackupError(.system, "the backup did not finish")
    }

    @Test func aPreviewThroughTheAPIChangesNothingIsNoRestoreAndListsTheChanges() async throws {
        let fixture = try self.fixture()
        let server = try await APIServer.start(fixture) { $0.operatorDestinations = [.init(hostname: "localhost", path: fixture.backups)] }
        defer { Task { await server.stop() } }
        #expect(try await self.backup(server)["status"] as? String == "COMPLETED")
        try fixture.mutateAppliance()
        let before = try TreeInventory(fixture.root)
        let local = #"{"hostname":"localhost","security_pwd":"\#(Self.secret)"}"#

        // A viewer may not; a `dry_run` field on the restore itself is refused, never taken for a restore.
        APIServerTests().expectError(try await server.call("POST", Self.base + "/restore/preview", body: local, user: "scrape", password: "scrape-password"), status: 403, id: "AUTH_FORBIDDEN", "role viewer")
        APIServerTests().expectError(
            try await server.call("POST", Self.base + "/restore", body: #"{"hostname":"localhost","security_pwd":"\#(Self.secret)","dry_run":true}"#, user: "admin", password: "admin-password"),
            status: 400, id: "BAD_REQUEST", "restore/preview")
        #expect(try await server.call("GET", Self.base + "/restore/preview", user: "scrape", password: "scrape-password").object["status"] as? String == "NONE")

        // An operator previews from a destination it may use.
        let started = try await server.call("POST", Self.base + "/restore/preview", body: local, user: "ops", password: "ops-password")
        #expect(started.status == 204, "\(started.body)")
        let preview = try await self.waitForNew(server, Self.base + "/restore/preview", after: nil)
        #expect(preview["status"] as? String == "COMPLETED", "\(preview)")
        #expect((preview["message"] as? String)?.contains("nothing was restored") == true, "\(preview)")
        let components = Dictionary(uniqueKeysWithValues: ((preview["components"] as? [[String: Any]]) ?? []).map { ($0["name"] as? String ?? "", $0) })
        let config = components["config"]?["changes"] as? [String: Any] ?? [:]
        #expect((config["counts"] as? [[String: Any]])?.first?["name"] as? String == "rows in table exporters", "\(config)")
        let snmpFiles = (components["snmp"]?["changes"] as? [String: Any])?["files"] as? [[String: Any]] ?? []
        #expect(snmpFiles.contains { $0["path"] as? String == "etc/snmp/snmpd.conf" && $0["change"] as? String == "updated" }, "\(snmpFiles)")
        #expect(try TreeInventory(fixture.root) == before, "a preview changed the appliance")
        // No restore was recorded, and a scrape of the metrics counts none.
        #expect(try await server.call("GET", Self.base + "/restore", user: "admin", password: "admin-password").object["status"] as? String == "NONE")
        let metrics = try await server.call("GET", "/metrics", user: "scrape", password: "scrape-password").body
        let restoreRuns = metrics.split(separator: "\n").filter { $0.hasPrefix("gwbackup_job_runs_total") && $0.contains("restore") }
        #expect(!restoreRuns.isEmpty && restoreRuns.allSatisfy { $0.hasSuffix(" 0") }, "\(restoreRuns)")
        // The same through the CLI as a client of the server.
        try fixture.directory.write("admin.pwd", "admin-password\n", mode: 0o600)
        let client = ["--server", "https://127.0.0.1:\(server.port)", "--api-user", "admin", "--api-password-file", fixture.directory.sub("admin.pwd"), "--insecure"]
        let cli = try await CommandLineTests().gwbackup(client + ["restore", "--dry-run", "--wait"], environment: ["GWBACKUP_SECURITY_PWD": Self.secret], timeout: .seconds(300))
        #expect(cli.status == 0 && cli.stdout.contains("updated  etc/snmp/snmpd.conf  (content") && cli.stdout.contains("nothing was restored"), "\(cli.stdout)\(cli.stderr)")
        #expect(try TreeInventory(fixture.root) == before)
    }

    @Test func aRotationThroughTheAPIRekeysEveryBackupAndOnlyAnAdminMayStartIt() async throws {
        let fixture = try self.fixture()
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        let first = try await self.backup(server)
        #expect(first["status"] as? String == "COMPLETED", "\(first)")
        let next = "the rotated api password"
        let body = #"{"hostname":"localhost","security_pwd":"\#(Self.secret)","new_security_pwd":"\#(next)"}"#

        for (user, role) in [("scrape", "viewer"), ("ops", "operator")] {
            APIServerTests().expectError(try await server.call("POST", Self.base + "/rekey", body: body, user: user, password: "\(user)-password"), status: 403, id: "AUTH_FORBIDDEN", "role \(role)")
        }
        // Bodies that cannot start a rotation: refused before anything runs.
        for (bad, says) in [
            (#"{"hostname":"localhost","security_pwd":"\#(Self.secret)"}"#, "new_security_pwd"),
            (#"{"hostname":"localhost","security_pwd":"\#(Self.secret)","new_security_pwd":"\#(Self.secret)"}"#, "is the old one"),
            (#"{"hostname":"localhost","security_pwd":"s","new_security_pwd":"n","backups":["../x"]}"#, "backups"),
            (#"{"hostname":"localhost","security_pwd":"s","new_security_pwd":"n","components":["config"]}"#, "belongs to a restore"),
            (#"{"hostname":"localhost","security_pwd":"s","new_security_pwd":7}"#, "new_security_pwd"),
            (#"{"hostname":"localhost","security_pwd":"s","new_security_pwd":"n","drop_recovery_keys":"yes"}"#, "drop_recovery_keys"),
            (#"{"hostname":"localhost","security_pwd":"s","new_security_pwd":"n","backups":["ok","\u0007bell"]}"#, "backups"),
            (#"{"hostname":"localhost","security_pwd":"s","new_security_pwd":"n","dry_run":true}"#, "restore/preview"),
        ] {
            APIServerTests().expectError(try await server.call("POST", Self.base + "/rekey", body: bad, user: "admin", password: "admin-password"), status: 400, id: "BAD_REQUEST", says)
        }
        #expect(try await server.call("GET", Self.base + "/rekey", user: "scrape", password: "scrape-password").object["status"] as? String == "NONE")

        // A wrong current password: the rotation starts, finds nothing it opens, and ends ERROR.
        #expect(try await server.call("POST", Self.base + "/rekey", body: #"{"hostname":"localhost","security_pwd":"not the password","new_security_pwd":"\#(next)"}"#, user: "admin", password: "admin-password").status == 204)
        let wrong = try await self.waitForNew(server, Self.base + "/rekey", after: nil)
        #expect(wrong["status"] as? String == "ERROR" && (wrong["message"] as? String)?.contains("neither password opens") == true, "\(wrong)")

        #expect(try await server.call("POST", Self.base + "/rekey", body: body, user: "admin", password: "admin-password").status == 204)
        let rotated = try await self.waitForNew(server, Self.base + "/rekey", after: wrong["id"] as? String)
        #expect(rotated["status"] as? String == "COMPLETED", "\(rotated)")
        let outcomes = (rotated["report"] as? [String: Any])?["backups"] as? [[String: Any]] ?? []
        #expect(outcomes.count == 1 && outcomes.first?["result"] as? String == "rekeyed" && outcomes.first?["backup"] as? String == first["backup"] as? String, "\(outcomes)")

        // The backup now opens with the new password only: a preview with the old one fails, with the new one completes.
        #expect(try await server.call("POST", Self.base + "/restore/preview", body: #"{"hostname":"localhost","security_pwd":"\#(Self.secret)"}"#, user: "admin", password: "admin-password").status == 204)
        let old = try await self.waitForNew(server, Self.base + "/restore/preview", after: nil)
        #expect(old["status"] as? String == "ERROR", "\(old)")
        #expect(try await server.call("POST", Self.base + "/restore/preview", body: #"{"hostname":"localhost","security_pwd":"\#(next)"}"#, user: "admin", password: "admin-password").status == 204)
        let new = try await self.waitForNew(server, Self.base + "/restore/preview", after: old["id"] as? String)
        #expect(new["status"] as? String == "COMPLETED", "\(new)")

        // Neither password reached the log or the state directory's files.
        let lines = fixture.logLines.all
        #expect(!lines.isEmpty && !lines.contains { $0.contains(Self.secret) || $0.contains(next) })
        for name in try FileTree.names(in: fixture.state) where name.hasSuffix(".json") {
            let text = String(decoding: try FileTree.readFile(fixture.state + "/" + name), as: UTF8.self)
            #expect(!text.contains(Self.secret) && !text.contains(next), "\(name) holds a password")
        }
    }
}

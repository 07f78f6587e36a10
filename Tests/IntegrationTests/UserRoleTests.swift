import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// API users have roles (issue 24: the Prometheus scrape user could send a backup of the cloak key
/// to an SFTP host of its choice): a viewer reads, an operator starts jobs to the configured
/// destinations only, an admin anywhere; users made before roles stay admins.
@Suite("API roles", .serialized)
struct UserRoleTests {
    static let base = APIServerTests.base
    static let remote = #"{"hostname":"127.0.0.1","port":1,"username":"u","password":"p","path":"/srv/elsewhere","security_pwd":"s3cret-pass"}"#
    static let local = #"{"hostname":"localhost","security_pwd":"s3cret-pass"}"#

    func fixture(_ roles: [String: UserRole?]) throws -> Fixture {
        let fixture = try Fixture("roles")
        let users = UserStore(path: fixture.state + "/users.json")
        for (name, role) in roles { try users.set(name, password: Secret("\(name)-password"), role: role) }
        return fixture
    }

    @Test func aViewerReadsTheStatusAndTheMetricsAndStartsNothing() async throws {
        let fixture = try self.fixture(["scrape": .viewer])
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        let (user, password) = ("scrape", "scrape-password")
        #expect(try await server.call("GET", Self.base + "/backup", user: user, password: password).status == 200)
        #expect(try await server.call("GET", "/metrics", user: user, password: password).status == 200)
        for (kind, body) in [("backup", Self.remote), ("restore", Self.local)] {
            let answer = try await server.call("POST", Self.base + "/" + kind, body: body, user: user, password: password)
            APIServerTests().expectError(answer, status: 403, id: "AUTH_FORBIDDEN", "role viewer")
        }
        let status = try await server.call("GET", Self.base + "/backup", user: user, password: password)
        #expect(((status.json as? [[String: Any]])?.first?["running"] as? [String: Any])?["status"] as? String == "NONE", "nothing started")
    }

    @Test func anOperatorStartsJobsOnlyToTheConfiguredDestinations() async throws {
        let fixture = try self.fixture(["ops": .operator])
        try FileTree.makeDirectories(fixture.backups, mode: 0o700)
        let server = try await APIServer.start(fixture) {
            $0.operatorDestinations = [.init(hostname: "localhost", path: fixture.backups), .init(hostname: "backup.example.net", username: "gw", path: "/srv/backups")]
        }
        defer { Task { await server.stop() } }
        let (user, password) = ("ops", "ops-password")
        // Off the list: another host (the one the thief would choose), refused before anything starts.
        let refused = try await server.call("POST", Self.base + "/backup", body: Self.remote, user: user, password: password)
        APIServerTests().expectError(refused, status: 403, id: "AUTH_FORBIDDEN", "operatorDestinations")
        // On it: the local backup directory.
        #expect(try await server.call("POST", Self.base + "/backup", body: Self.local, user: user, password: password).status == 204)
        let record = try await server.waitForJob(Self.base + "/backup", user: user, password: password)
        #expect(record["status"] as? String == "COMPLETED", "\(record)")
    }

    @Test func aUserMadeBeforeRolesIsAnAdminAndTheServerSaysSoOnce() async throws {
        let fixture = try self.fixture(["old": nil])
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        // Any destination: accepted (the job then fails on the refused connection).
        #expect(try await server.call("POST", Self.base + "/backup", body: Self.remote, user: "old", password: "old-password").status == 204)
        _ = try await server.waitForJob(Self.base + "/backup", user: "old", password: "old-password")
        let notes = fixture.logLines.all.filter { $0.contains("has no role: admin") && $0.contains(#""user": old"#) }
        #expect(notes.count == 1, "\(fixture.logLines.all.prefix(5))")
    }

    @Test func theOperatorAllowListMatchesHostPortUserAndPathExactly() {
        var configuration = APIConfiguration()
        configuration.operatorDestinations = [
            .init(hostname: "Backup.Example.net", username: "gw", path: "/srv/backups"),
            .init(hostname: "localhost", path: "/var/backups/gwbackup"),
            .init(hostname: "archive.example.net", port: 2222),
        ]
        let allowed: [(StorageTarget, Bool, String)] = [
            (StorageTarget(host: "backup.example.net", username: "gw", path: "/srv/backups", port: nil), true, "the entry"),
            (StorageTarget(host: "backup.example.net", username: "gw", path: "/srv/backups/gw1", port: 22), true, "below its path"),
            (StorageTarget(host: "backup.example.net", username: "gw", path: "/srv/backups-evil", port: nil), false, "a sibling sharing a prefix"),
            (StorageTarget(host: "backup.example.net", username: "root", path: "/srv/backups", port: nil), false, "another user"),
            (StorageTarget(host: "backup.example.net", username: "gw", path: "/srv/backups", port: 2022), false, "another port"),
            (StorageTarget(host: "backup.example.net.evil.org", username: "gw", path: "/srv/backups", port: nil), false, "a longer host name"),
            (StorageTarget(host: "LocalHost", username: "root", path: "/var/backups/gwbackup/x", port: nil), true, "this machine, below the local entry"),
            (StorageTarget(host: "127.0.0.1", username: "root", path: "/var/backups/gwbackup/x", port: nil), false, "SFTP to this machine is not the local directory"),
            (StorageTarget(host: "localhost", username: "root", path: "/var/backups", port: nil), false, "above the local entry"),
            (StorageTarget(host: "archive.example.net", username: "anyone", path: "/anywhere", port: 2222), true, "an entry without user or path"),
            (StorageTarget(host: "archive.example.net", username: "anyone", path: "/anywhere", port: nil), false, "its port is 2222, not 22"),
        ]
        for (target, expected, why) in allowed {
            #expect(configuration.allowsOperator(target) == expected, "\(why): \(target)")
        }
        #expect(!APIConfiguration().allowsOperator(StorageTarget(host: "localhost", username: "root", path: "/x", port: nil)), "no list: nothing")
    }

    @Test func badOperatorDestinationsAndUnknownRolesAreStartUpErrors() async throws {
        for (destinations, why) in [
            (#"[{"hostname": ""}]"#, "no hostname"), (#"[{"hostname": "h", "path": "srv/backups"}]"#, "a relative path"),
            (#"[{"hostname": "h", "port": 0}]"#, "port 0"), (#"[{"hostname": "h", "port": 70000}]"#, "port 70000"),
        ] {
            #expect(throws: BackupError.self, "\(why)") {
                try JSONDecoder().decode(APIConfiguration.self, from: Data(#"{"operatorDestinations": \#(destinations)}"#.utf8))
            }
        }
        // A users file naming a role no one knows (a hand edit): the server does not start, saying why.
        let fixture = try Fixture("roles-unknown")
        try UserStore(path: fixture.state + "/users.json").set("ops", password: Secret("ops-password"), role: .operator)
        let path = fixture.state + "/users.json"
        let edited = String(decoding: try FileTree.readFile(path), as: UTF8.self).replacingOccurrences(of: "\"operator\"", with: "\"superuser\"")
        try FileTree.writeAtomically(Data(edited.utf8), to: path, mode: 0o600)
        await #expect {
            _ = try await APIServer.start(fixture)
        } throws: { error in
            (error as? BackupError)?.message.contains("users file") == true
        }
    }

    @Test func theCommandLineAddsUsersWithARoleAndChangesIt() async throws {
        let directory = try TemporaryDirectory("roles-cli")
        let cli = CommandLineTests()
        let state = ["--state-dir", directory.sub("state")]
        let missing = try await cli.gwbackup(["user", "add", "x", "--password-stdin"] + state)
        #expect(missing.status != 0 && missing.stderr.contains("--role"), "\(missing.stderr)")
        let unknown = try await cli.gwbackup(["user", "add", "x", "--role", "boss", "--password-stdin"] + state)
        #expect(unknown.status != 0 && unknown.stderr.contains("viewer, operator, admin"), "\(unknown.stderr)")
        let command = "echo viewer-password | \(CommandLineTests.binary) user add scrape --role viewer --password-stdin --state-dir \(directory.sub("state"))"
        let add = try await Blocking.run { try shell(command) }
        #expect(add.status == 0 && add.output.contains("role viewer"), "\(add.output)")
        try UserStore(path: directory.sub("state/users.json")).set("old", password: Secret("old-password"))
        var list = try await cli.gwbackup(["user", "list"] + state)
        #expect(list.stdout == "old admin (no role set: an admin, as users made before roles)\nscrape viewer\n", "\(list.stdout)")
        #expect(try await cli.gwbackup(["user", "role", "old", "--role", "operator"] + state).status == 0)
        list = try await cli.gwbackup(["user", "list"] + state)
        #expect(list.stdout == "old operator\nscrape viewer\n", "\(list.stdout)")
        #expect(try await cli.gwbackup(["user", "role", "nobody", "--role", "admin"] + state).status != 0)
    }
}

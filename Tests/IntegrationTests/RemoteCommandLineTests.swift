import BackupCertificates
import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayAPI
import GatewayBackupTestSupport
@testable import GatewayClient
import GatewayWire
import Testing

/// `gwbackup --server …`: the CLI as a client of a real HTTPS server on a free loopback port.
@Suite("gwbackup --server", .serialized)
struct RemoteCommandLineTests {
    static let apiPassword = "operator-password"

    func fixture() throws -> Fixture {
        let fixture = try Fixture("remote")
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret(Self.apiPassword))
        try fixture.directory.write("api.pwd", Self.apiPassword + "\n", mode: 0o600)
        return fixture
    }

    /// Runs the CLI on a thread of its own (the in-process server needs the cooperative pool).
    func gwbackup(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await CommandLineTests().gwbackup(arguments, environment: environment, timeout: .seconds(300))
    }

    /// The options that reach the server at `port` as the test user.
    func server(_ fixture: Fixture, port: Int, host: String = "127.0.0.1", trust: [String] = ["--insecure"]) -> [String] {
        ["--server", "https://\(host):\(port)", "--api-user", "operator", "--api-password-file", fixture.directory.sub("api.pwd")] + trust
    }

    /// Waits (up to 20 s) until the job's `slow` component runs; false if it never does.
    func slowComponentRuns(_ fixture: Fixture) async throws -> Bool {
        for _ in 0..<200 {
            if (try? fixture.runtime.status.backupStatus())?.running.components.first(where: { $0.name == "slow" })?.status == .running { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    func json(_ text: String) -> [String: Any] {
        (try? JSONSerialization.jsonObject(with: Data(text.utf8))) as? [String: Any] ?? [:]
    }

    @Test func backupAndRestoreWithWaitEndWithTheServersFinalStatus() async throws {
        let fixture = try self.fixture()
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        let remote = self.server(fixture, port: server.port)

        let backup = try await self.gwbackup(remote + ["backup", "--security-pwd-file", fixture.passwordFile, "--wait", "--json"])
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        let record = self.json(backup.stdout)
        #expect(record["status"] as? String == "COMPLETED" && record["id"] is String, "\(backup.stdout)")
        #expect((record["subdir"] as? String)?.hasPrefix(fixture.backups + "/flowgateway-") == true)
        #expect((record["components"] as? [[String: Any]])?.count == 5)

        // The server's status, through the CLI, in both argument orders.
        let status = try await self.gwbackup(["status", "--json"] + remote)
        #expect(status.status == 0, "\(status.stderr)")
        let both = self.json(status.stdout)
        let last = (both["backup"] as? [String: Any])?["last_successful"] as? [String: Any]
        #expect(last?["subdir"] as? String == record["subdir"] as? String)
        #expect(last?["id"] as? String == record["id"] as? String)

        // A wrong security password: the job fails on the server, the CLI says why and exits 1.
        try fixture.directory.write("wrong.pwd", "not the password\n", mode: 0o600)
        let wrong = try await self.gwbackup(remote + ["restore", "--security-pwd-file", fixture.directory.sub("wrong.pwd"), "--wait"])
        #expect(wrong.status == 1, "\(wrong.stdout)\(wrong.stderr)")
        #expect(wrong.stdout.contains("restore ERROR") && wrong.stdout.contains("security password"), "\(wrong.stdout)")

        // A restore without the certificate-bound components, trusting the server's own certificate.
        try fixture.mutateAppliance()
        let trusted = self.server(fixture, port: server.port, host: "localhost", trust: ["--ca-cert", fixture.state + "/tls/server.crt"])
        let restore = try await self.gwbackup(trusted + ["restore", "--no-cert", "--wait"], environment: ["GWBACKUP_SECURITY_PWD": fixture.password.revealed])
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        #expect(restore.stdout.contains("restore COMPLETED") && restore.stdout.contains("no_cert: skipped cloak_key, snmp, ntp, certificates"), "\(restore.stdout)")

        for output in [backup, status, wrong, restore] {
            let text = output.stdout + output.stderr
            #expect(!text.contains(Self.apiPassword) && !text.contains(fixture.password.revealed), "a secret in the CLI's output")
        }
    }

    @Test func aBackupToAnSFTPHostDrivenThroughTheServer() async throws {
        let bed = try SSHTestBed.start()
        let fixture = try self.fixture()
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        try fixture.directory.write("ssh.pwd", bed.password.revealed + "\n", mode: 0o600)
        let path = "gwb-tests/cli-\(UUID().uuidString.prefix(6))"
        let outcome = try await self.gwbackup(self.server(fixture, port: server.port) + [
            "backup", "--wait", "--host", "127.0.0.1", "--port", "\(bed.port)", "--user", bed.user, "--path", path,
            "--password-file", fixture.directory.sub("ssh.pwd"), "--security-pwd-file", fixture.passwordFile,
        ])
        #expect(outcome.status == 0, "\(outcome.stdout)\(outcome.stderr)")
        #expect(outcome.stdout.contains("backup COMPLETED") && outcome.stdout.contains(path), "\(outcome.stdout)")
        #expect(!(outcome.stdout + outcome.stderr).contains(bed.password.revealed))
        let status = try await server.call("GET", "\(APIServerTests.base)/backup")
        #expect(status.body.contains(path) && !status.body.contains(bed.password.revealed))
    }

    /// The client tells a busy server from a bad argument by `error_info.reason`, never by the text.
    @Test func aBusyAnswerIsRecognisedByItsReasonNotItsText() {
        func code(_ body: String) -> BackupError.Code {
            APIErrorAnswer.decode(Data(body.utf8), status: .badRequest, server: "https://s").code
        }
        #expect(code(#"{"error_id":"BAD_REQUEST","error_text":"another wording","error_info":{"reason":"JOB_RUNNING"}}"#) == .busy)
        #expect(code(#"{"error_id":"BAD_REQUEST","error_text":"a job is already running: looks busy, is not"}"#) == .invalidInput)
        #expect(code(#"{"error_id":"BAD_REQUEST","error_text":"x","error_info":{"reason":7,"other":[1]}}"#) == .invalidInput)
        #expect(code(#"{"error_id":"AUTH_INVALID_CREDENTIALS","error_text":"x","error_info":{"reason":"JOB_RUNNING"}}"#) == .authentication)
    }

    @Test func withoutWaitTheJobIsStartedAndASecondOneIsRefusedAsBusy() async throws {
        let fixture = try self.fixture()
        let manifest = try fixture.slowManifest(script: "sleep 3\necho '{\"protocol\":1,\"status\":\"ok\"}'")
        let server = try await APIServer.start(fixture) { $0.manifest = manifest }
        defer { Task { await server.stop() } }
        let remote = self.server(fixture, port: server.port)
        let environment = ["GWBACKUP_SECURITY_PWD": "pw"]
        let first = try await self.gwbackup(remote + ["backup"], environment: environment)
        #expect(first.status == 0 && first.stdout.contains("backup started on https://127.0.0.1:\(server.port)"), "\(first.stdout)\(first.stderr)")
        let second = try await self.gwbackup(remote + ["restore"], environment: environment)
        #expect(second.status == 3, "\(second.stdout)\(second.stderr)")
        #expect(second.stderr.contains("BAD_REQUEST: a job is already running"), "\(second.stderr)")
        let finished = try await server.waitForJob("\(APIServerTests.base)/backup")
        #expect(finished["status"] as? String == "COMPLETED")
    }

    @Test func refusedCredentialsUntrustedCertificatesAndUnreachableServersAreClearErrors() async throws {
        let fixture = try self.fixture()
        let server = try await APIServer.start(fixture)
        defer { Task { await server.stop() } }
        try fixture.directory.write("bad.pwd", "guess\n", mode: 0o600)
        var remote = self.server(fixture, port: server.port)
        remote[remote.firstIndex(of: fixture.directory.sub("api.pwd"))!] = fixture.directory.sub("bad.pwd")
        let refused = try await self.gwbackup(remote + ["status"])
        #expect(refused.status == 2 && refused.stderr.contains("AUTH_INVALID_CREDENTIALS"), "\(refused.stderr)")
        #expect(!refused.stderr.contains("guess"))

        let untrusted = try await self.gwbackup(self.server(fixture, port: server.port, trust: []) + ["status"])
        #expect(untrusted.status == 1 && untrusted.stderr.contains("certificate is not trusted") && untrusted.stderr.contains("--ca-cert"), "\(untrusted.stderr)")

        let wrongName = try await self.gwbackup(self.server(fixture, port: server.port, trust: ["--ca-cert", fixture.state + "/tls/server.crt"]) + ["status"])
        #expect(wrongName.status == 1, "the certificate names localhost, not 127.0.0.1: \(wrongName.stderr)")

        await server.stop()
        let gone = try await self.gwbackup(self.server(fixture, port: server.port) + ["status"])
        #expect(gone.status == 1 && gone.stderr.contains("cannot reach https://127.0.0.1:\(server.port)"), "\(gone.stderr)")
    }

    @Test(arguments: [
        (["--server", "http://127.0.0.1:1", "--api-user", "u", "status"], 2, "must be an https:// URL"),
        (["--server", "https://127.0.0.1:1/api", "--api-user", "u", "status"], 2, "without a path"),
        (["--server", "https://127.0.0.1:1", "status"], 2, "needs --api-user"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "list"], 64, "works with status, backup, restore and rekey only"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "--ca-cert", "/nonexistent.pem", "status"], 2, "cannot read the certificates to trust"),
        (["--insecure", "status"], 64, "go with --server"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "--insecure", "--ca-cert", "x", "status"], 64, "contradict"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "backup", "--root", "/tmp"], 64, "are the server's settings"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "backup", "--state-dir", "/tmp"], 64, "is the server's setting"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "backup", "--identity", "/k"], 64, "SSH password only"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "backup", "--host", "nas"], 64, "needs --user and --path"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "restore", "--allow-unauthenticated", "--backup", "b"], 64, "this machine only"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "backup", "--recipient-key", "/k.asc"], 64, "recipientKeys"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "rekey", "--recipient-key", "/k.asc"], 64, "recipientKeys"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "rekey", "--state-dir", "/tmp"], 64, "is the server's setting"),
        (["--server", "https://127.0.0.1:1", "--api-user", "u", "restore", "--appliance", "host-1"], 64, "--appliance takes an appliance identifier"),
    ])
    func badOptionsAreRefusedBeforeAnyRequest(arguments: [String], status: Int32, message: String) async throws {
        let outcome = try await self.gwbackup(
            arguments, environment: ["GWBACKUP_API_PASSWORD": "p", "GWBACKUP_SECURITY_PWD": "s", "GWBACKUP_PASSWORD": "x"])
        #expect(outcome.status == status, "\(outcome.stderr)")
        #expect(outcome.stderr.contains(message), "\(outcome.stderr)")
    }

    @Test func aSecretFileOthersCanReadIsWarnedAbout() async throws {
        let fixture = try self.fixture()
        try fixture.directory.write("open.pwd", "secret\n", mode: 0o644)
        let outcome = try await self.gwbackup(["--server", "https://127.0.0.1:1", "--api-user", "u", "--api-password-file", fixture.directory.sub("open.pwd"), "status"])
        #expect(outcome.stderr.contains("can be read by other users (mode 644); chmod 600 it"), "\(outcome.stderr)")
        #expect(!outcome.stderr.contains("secret\n"))
        let closed = try await self.gwbackup(["--server", "https://127.0.0.1:1", "--api-user", "u", "--api-password-file", fixture.directory.sub("api.pwd"), "status"])
        #expect(!closed.stderr.contains("can be read by other users"), "\(closed.stderr)")
    }

    @Test func aServerKilledAndRestartedDuringWaitEndsInErrorInterrupted() async throws {
        let fixture = try self.fixture()
        let manifest = try fixture.slowManifest(script: "exec sleep 60")
        var server = try await ServeProcess(fixture, manifest: manifest)
        let port = server.port
        let arguments = self.server(fixture, port: port) + ["backup", "--wait"]
        async let waiting = self.gwbackup(arguments, environment: ["GWBACKUP_SECURITY_PWD": "pw"])
        #expect(try await self.slowComponentRuns(fixture))
        try await server.stop(SIGKILL)
        // The plugin dies with its server (parent-death signal): wait for it, with a deadline.
        for _ in 0..<100 where processRuns(["sleep", "60"]) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(!processRuns(["sleep", "60"]))
        server = try await ServeProcess(fixture, port: port, manifest: manifest)
        let outcome = try await waiting
        #expect(outcome.status == 1, "\(outcome.stdout)\(outcome.stderr)")
        #expect(outcome.stdout.contains("backup ERROR") && outcome.stdout.contains("interrupted"), "\(outcome.stdout)\(outcome.stderr)")
        try await server.stop()
    }

    @Test func aServerThatStaysDownDuringWaitEndsInLostContactAndItsPluginDiesWithIt() async throws {
        let fixture = try self.fixture()
        let manifest = try fixture.slowManifest(script: "exec sleep 63")
        let server = try await ServeProcess(fixture, manifest: manifest)
        let arguments = self.server(fixture, port: server.port) + ["backup", "--wait"]
        async let waiting = self.gwbackup(arguments, environment: ["GWBACKUP_SECURITY_PWD": "pw"])
        #expect(try await self.slowComponentRuns(fixture))
        #expect(try await processStarts(["sleep", "63"]), "the plugin runs, and the detector sees it")
        try await server.stop(SIGKILL)
        // The plugin got the parent-death signal: nothing goes on changing the appliance unwatched.
        var pluginGone = false
        for _ in 0..<50 where !pluginGone {
            try await Task.sleep(for: .milliseconds(100))
            pluginGone = !processRuns(["sleep", "63"])
        }
        #expect(pluginGone, "the plugin outlived the killed server")
        let outcome = try await waiting
        #expect(outcome.status == 1, "\(outcome.stdout)\(outcome.stderr)")
        #expect(outcome.stderr.contains("lost contact with the server") && outcome.stderr.contains("status"), "\(outcome.stderr)")
    }
}

/// Answers shaped exactly as the API document's examples, as other servers of the family send them.
@Suite("API answers")
struct APIAnswerDecodingTests {
    @Test func theDocumentsBackupExampleDecodes() throws {
        let example = #"""
            [{"last_successful": {"host": "dummyHost", "message": "", "path": "path/to/store/backup/directory",
              "subdir": "path/to/store/backup/directory/backup_name", "timeStamp": 1659006593, "username": "mazu"},
              "running": {"host": "dummyHost", "message": "", "path": "path/to/store/backup/directory",
              "status": "COMPLETED", "timeStamp": 1659006593, "username": "mazu"}}]
            """#
        let status = try WireBackupStatus.decodeAnswer(Data(example.utf8)).status
        #expect(status.lastSuccessful?.status == .completed && status.lastSuccessful?.subdir == "path/to/store/backup/directory/backup_name")
        #expect(status.running.status == .completed && status.running.timeStamp == 1659006593 && status.running.id == nil)
    }

    @Test func aTimeStampAsAStringAndAnEmptyLastSuccessfulDecode() throws {
        let answer = #"[{"last_successful": {}, "running": {"host": "h", "path": "p", "status": "EXECUTING", "timeStamp": "1659006593", "username": "u"}}]"#
        let status = try WireBackupStatus.decodeAnswer(Data(answer.utf8)).status
        #expect(status.lastSuccessful == nil && status.running.timeStamp == 1659006593 && status.running.message == "")
    }

    @Test(arguments: ["[]", "{}", #"[{"running": {"status": "COMPLETED"}}]"#, #"[{"running": {"timeStamp": "soon"}}]"#, "not json"])
    func answersThatAreNotAStatusAreRefused(answer: String) {
        #expect(throws: (any Error).self) { try WireBackupStatus.decodeAnswer(Data(answer.utf8)).status }
    }

    @Test func aNewJobIsToldApartByIdOrElseByAnyChange() {
        let previous = JobRecord(host: "h", username: "u", path: "p", timeStamp: 10, status: .completed, id: "a")
        var next = previous
        #expect(!JobFollower.isNewJob(next, previous: previous))
        next.id = "b"
        #expect(JobFollower.isNewJob(next, previous: previous))
        var documented = JobRecord(host: "h", username: "u", path: "p", timeStamp: 10, status: .completed)
        let before = documented
        #expect(!JobFollower.isNewJob(documented, previous: before))
        documented.status = .executing
        #expect(JobFollower.isNewJob(documented, previous: before))
    }
}

/// The client against another server of the API family (a Python stand-in on loopback that sends
/// only the document's fields: no job id, a string `timeStamp`, no `status` in `last_successful`).
@Suite("gwbackup --server against the API family", .serialized)
struct APIFamilyClientTests {
    /// Starts the stand-in in `mode`; returns its port and pid.
    func start(_ directory: TemporaryDirectory, mode: String) async throws -> (port: Int, pid: Int32) {
        let made = try SelfSignedCertificate.make(commonName: "appliance", dnsNames: ["localhost"])
        try directory.write("tls.crt", made.certificatePEM)
        try directory.write("tls.key", made.privateKeyPEM, mode: 0o600)
        let script = Fixture.repository + "/Tests/Fixtures/api_family_server.py"
        let pid = try startInBackground("python3 \(script) \(directory.sub("tls.crt")) \(directory.sub("tls.key")) \(directory.sub("port")) \(mode)", output: directory.sub("server.log"))
        for _ in 0..<100 {
            if let text = try? directory.read("port"), let port = Int(text) { return (port, pid) }
            try await Task.sleep(for: .milliseconds(100))
        }
        signalBackground(pid, SIGKILL)
        throw BackupError(.system, "the stand-in server did not start: \((try? directory.read("server.log")) ?? "")")
    }

    @Test func backupWithWaitFollowsAJobThatHasNoId() async throws {
        let directory = try TemporaryDirectory("family")
        let (port, pid) = try await self.start(directory, mode: "appliance")
        defer { signalBackground(pid, SIGKILL) }
        let remote = ["--server", "https://127.0.0.1:\(port)", "--api-user", "admin", "--insecure"]
        let environment = ["GWBACKUP_API_PASSWORD": "admin-password", "GWBACKUP_SECURITY_PWD": "pw"]
        let backup = try await RemoteCommandLineTests().gwbackup(remote + ["backup", "--wait"], environment: environment)
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        #expect(backup.stdout.contains("backup COMPLETED"), "\(backup.stdout)")
        let status = try await RemoteCommandLineTests().gwbackup(remote + ["status", "--json"], environment: environment)
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("/mnt/data/flowgateway-backup/backup_name"), "\(status.stdout)")
    }

    @Test func answersThatAreNotThisAPIsAreClearErrors() async throws {
        let environment = ["GWBACKUP_API_PASSWORD": "admin-password", "GWBACKUP_SECURITY_PWD": "pw"]
        let garbageDirectory = try TemporaryDirectory("family")
        let garbage = try await self.start(garbageDirectory, mode: "garbage")
        defer { signalBackground(garbage.pid, SIGKILL) }
        let status = try await RemoteCommandLineTests().gwbackup(
            ["--server", "https://127.0.0.1:\(garbage.port)", "--api-user", "admin", "--insecure", "status"], environment: environment)
        #expect(status.status == 1 && status.stderr.contains("with something that is not this API's status"), "\(status.stderr)")

        let brokenDirectory = try TemporaryDirectory("family")
        let broken = try await self.start(brokenDirectory, mode: "broken")
        defer { signalBackground(broken.pid, SIGKILL) }
        let backup = try await RemoteCommandLineTests().gwbackup(
            ["--server", "https://127.0.0.1:\(broken.port)", "--api-user", "admin", "--insecure", "backup"], environment: environment)
        #expect(backup.status == 1 && backup.stderr.contains("answered 500 Internal Server Error: Internal Server Error"), "\(backup.stderr)")
        #expect(!backup.stderr.contains("admin-password"))
    }

    @Test func aJobTheServerNeverShowsEndsTheWaitWithAnError() async throws {
        let directory = try TemporaryDirectory("family")
        let (port, pid) = try await self.start(directory, mode: "silent")
        defer { signalBackground(pid, SIGKILL) }
        let client = try APIClient(try APIClientConfiguration(server: "https://127.0.0.1:\(port)", user: "admin", password: Secret("x"), insecure: true))
        var follower = JobFollower(client: client)
        follower.appearTimeout = .seconds(2)
        follower.pollInterval = .milliseconds(200)
        let previous = try await follower.start(.backup, WireJobRequest(hostname: "localhost", securityPassword: Secret("pw")))
        await #expect {
            _ = try await follower.wait(.backup, after: previous)
        } throws: { error in
            (error as? BackupError)?.message.contains("has not shown it") == true
        }
        await client.shutdown()
    }
}

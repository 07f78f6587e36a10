import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// Every `--json` output conforms to its documented schema (docs/json/, checked by Debian's
/// python3-jsonschema), each schema is exercised by at least one real output, and the schemas keep
/// one naming style: snake_case keys, but for the API's own `timeStamp`.
@Suite("--json outputs and their schemas", .serialized)
struct JSONOutputSchemaTests {
    static let schemas = Fixture.repository + "/docs/json"

    func gwbackup(_ arguments: [String], environment: [String: String] = [:]) async throws -> (status: Int32, stdout: String, stderr: String) {
        try await CommandLineTests().gwbackup(arguments, environment: environment)
    }

    @Test func everyJSONOutputConformsToItsDocumentedSchema() async throws {
        let remote = RemoteCommandLineTests()
        let fixture = try remote.fixture()
        let password = ["GWBACKUP_SECURITY_PWD": fixture.password.revealed]
        let common = ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state]
        let store = ["--path", fixture.backups, "--state-dir", fixture.state]
        var outputs: [(schema: String, label: String, arguments: [String], environment: [String: String], exit: Int32)] = [
            ("job-record", "backup", ["backup", "--json"] + common, password, 0),
        ]
        // A second backup, and a directory under a backup's name that does not authenticate: the
        // listings, prune and status then have something in each of their arrays.
        outputs += [("job-record", "backup-2", ["backup", "--json"] + common, password, 0)]
        for output in outputs {
            let result = try await self.gwbackup(output.arguments, environment: output.environment)
            #expect(result.status == output.exit, "\(output.label): \(result.stderr)")
        }
        try FileTree.makeDirectories(fixture.backups + "/flowgateway-20200101T000000Z")
        try FileTree.writeAtomically(Data("{}".utf8), to: fixture.backups + "/flowgateway-20200101T000000Z/manifest.json")
        let badManifest = try fixture.directory.write("bad-manifest.json", #"{"version": 1, "appliance": "x", "components": [{"name": "a", "plugin": "nope"}]}"#)

        // Schedules with a recorded run and a skipped one (the state as the scheduler writes it).
        let credentials = try fixture.directory.write("nightly.credentials", #"{"security_pwd": "s"}"#, mode: 0o600)
        let config = try fixture.directory.write("serve.json", #"{"stateDirectory": "\#(fixture.state)", "schedules": [{"name": "nightly", "cron": "15 2 * * *", "timeZone": "Europe/Paris", "destination": {"hostname": "localhost"}, "credentialsFile": "\#(credentials)", "retention": {"keepDaily": 7}}]}"#)
        var state = ScheduleState()
        state.schedules["nightly"] = ScheduleState.Entry(
            handledUntil: 1_796_606_100, lastRun: .init(planned: 1_796_606_100, at: 1_796_606_101, result: "COMPLETED"),
            lastSkipped: .init(planned: 1_796_519_700, at: 1_796_519_700, result: "SKIPPED", message: "another job held the lock"))
        try state.save(to: fixture.state)

        let local: [(schema: String, label: String, arguments: [String], environment: [String: String], exit: Int32)] = [
            ("list", "list", ["list", "--json"] + store, [:], 0),
            ("list", "list-authenticated", ["list", "--json"] + store, password, 0),
            ("verify", "verify", ["verify", "--json"] + store, password, 0),
            ("prune", "prune", ["prune", "--json", "--dry-run", "--keep-last", "1"] + store, password, 0),
            ("job-record", "restore-dry-run", ["restore", "--json", "--dry-run"] + common, password, 0),
            ("diff", "diff", ["diff", "--json"] + common, password, 0),
            ("drill", "drill", ["drill", "--json"] + common, password, 0),
            ("rekey", "rekey", ["rekey", "--json", "--backup", "flowgateway-20200101T000000Z"] + store, password.merging(["GWBACKUP_NEW_SECURITY_PWD": "the next password"]) { $1 }, 1),
            ("job-record", "restore", ["restore", "--json"] + common, password, 0),
            ("status", "status", ["status", "--json", "--state-dir", fixture.state], [:], 0),
            ("plugins-list", "plugins-list", ["plugins", "list", "--json"], [:], 0),
            ("manifest-check", "manifest-check", ["manifest", "check", "--json", badManifest], [:], 2),
            ("plugins-test", "plugins-test", ["plugins", "test", "ntp", "--json", "--root", fixture.root], [:], 0),
            ("schedules", "schedules", ["schedules", "--json", "--config", config], [:], 0),
        ]
        // A change since the backups: the preview and the diff then list a file.
        try fixture.directory.write("appliance/etc/snmp/snmpd.conf", "rocommunity changed\n", mode: 0o600)
        var documents: [(schema: String, path: String, text: String)] = []
        for output in local {
            let result = try await self.gwbackup(output.arguments, environment: output.environment)
            #expect(result.status == output.exit, "\(output.label) exited \(result.status): \(result.stderr)")
            documents.append((output.schema, try fixture.directory.write("\(output.label).json", result.stdout), result.stdout))
        }

        // Through a server: a job started without --wait, and one followed with --wait.
        let server = try await APIServer.start(fixture)
        let started = try await self.gwbackup(remote.server(fixture, port: server.port) + ["backup", "--json", "--security-pwd-file", fixture.passwordFile])
        #expect(started.status == 0, "\(started.stderr)")
        documents.append(("job-started", try fixture.directory.write("remote-started.json", started.stdout), started.stdout))
        _ = try await server.waitForJob(APIServerTests.base + "/backup")
        let waited = try await self.gwbackup(remote.server(fixture, port: server.port) + ["backup", "--json", "--wait", "--security-pwd-file", fixture.passwordFile])
        #expect(waited.status == 0, "\(waited.stderr)")
        documents.append(("job-record", try fixture.directory.write("remote-waited.json", waited.stdout), waited.stdout))
        // The extensions: a preview (of a change since the newest backup) and a rotation, followed to their ends.
        try fixture.directory.write("appliance/etc/snmp/snmpd.conf", "rocommunity changed again\n", mode: 0o600)
        let previewed = try await self.gwbackup(remote.server(fixture, port: server.port) + ["restore", "--dry-run", "--json", "--wait", "--security-pwd-file", fixture.passwordFile])
        #expect(previewed.status == 0, "\(previewed.stderr)")
        documents.append(("job-record", try fixture.directory.write("remote-preview.json", previewed.stdout), previewed.stdout))
        let next = try fixture.directory.write("next-password", "the password after the remote rotation", mode: 0o600)
        let rotated = try await self.gwbackup(remote.server(fixture, port: server.port) + ["rekey", "--json", "--wait", "--security-pwd-file", fixture.passwordFile, "--new-security-pwd-file", next])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        documents.append(("rekey-record", try fixture.directory.write("remote-rekey.json", rotated.stdout), rotated.stdout))
        await server.stop()

        // What the documents hold: the arrays the schemas describe are not all empty.
        let byLabel = Dictionary(documents.map { (($0.path as NSString).lastPathComponent, $0.text) }, uniquingKeysWith: { a, _ in a })
        #expect(byLabel["prune.json"]?.contains("may_be_damaged") == true, "prune reports the planted directory: \(byLabel["prune.json"] ?? "")")
        #expect(byLabel["list-authenticated.json"]?.contains("\"own\"") == true)
        #expect(byLabel["schedules.json"]?.contains("\"planned_time\"") == true && byLabel["schedules.json"]?.contains("\"next_run_time\"") == true)
        #expect(byLabel["manifest-check.json"]?.contains("unknown plugin") == true)
        #expect(byLabel["restore-dry-run.json"]?.contains("etc/snmp/snmpd.conf") == true && byLabel["diff.json"]?.contains("etc/snmp/snmpd.conf") == true)
        #expect(byLabel["remote-preview.json"]?.contains("etc/snmp/snmpd.conf") == true, "\(byLabel["remote-preview.json"] ?? "")")
        #expect(byLabel["remote-rekey.json"]?.contains("\"rekeyed\"") == true, "\(byLabel["remote-rekey.json"] ?? "")")

        let arguments = documents.map { "\($0.schema) \($0.path)" }.joined(separator: " ")
        let check = try shell("/usr/bin/python3 \(Fixture.repository)/scripts/check-json-schema.py \(Self.schemas) \(arguments) 2>&1; echo rc=$?")
        #expect(check.output.hasSuffix("rc=0\n"), "\(check.output)")
        #expect(check.output.split(separator: "\n").filter { $0.hasPrefix("ok ") }.count == documents.count, "\(check.output)")

        // Every documented schema is exercised here.
        let documented = Set(try FileManager.default.contentsOfDirectory(atPath: Self.schemas).filter { $0.hasSuffix(".schema.json") }.map { String($0.dropLast(".schema.json".count)) })
        #expect(documented == Set(documents.map(\.schema)), "schemas without an output here: \(documented.subtracting(documents.map(\.schema)))")
    }

    /// The checker itself fails on a document off its schema (a camelCase key, a missing field).
    @Test func theCheckerRefusesADocumentOffItsSchema() throws {
        let directory = try TemporaryDirectory("json-schema-check")
        let bad = try directory.write("prune.json", #"{"location": "/b", "dryRun": true, "appliance": "gw-1", "decisions": [], "leftovers": [], "unverified": [], "other_appliances": [], "untouched": []}"#)
        let check = try shell("/usr/bin/python3 \(Fixture.repository)/scripts/check-json-schema.py \(Self.schemas) prune \(bad) 2>&1; echo rc=$?")
        #expect(check.output.contains("'dryRun' was unexpected") && check.output.contains("'dry_run' is a required property") && check.output.hasSuffix("rc=1\n"), "\(check.output)")
    }

    /// One naming style: every key a schema names is snake_case, but `timeStamp` (the API v1.0's).
    @Test func theSchemasNameEveryKeyInSnakeCase() throws {
        var offenders: [String] = []
        func walk(_ value: Any, file: String) {
            if let object = value as? [String: Any] {
                if let properties = object["properties"] as? [String: Any] {
                    for key in properties.keys where key != "timeStamp" && key.range(of: "^[a-z][a-z0-9_]*$", options: .regularExpression) == nil {
                        offenders.append("\(file): \(key)")
                    }
                }
                object.values.forEach { walk($0, file: file) }
            } else if let array = value as? [Any] {
                array.forEach { walk($0, file: file) }
            }
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: Self.schemas).filter { $0.hasSuffix(".schema.json") }
        #expect(files.count >= 10)
        for file in files {
            walk(try JSONSerialization.jsonObject(with: try FileTree.readFile(Self.schemas + "/" + file)), file: file)
        }
        #expect(offenders.isEmpty, "\(offenders)")
    }
}

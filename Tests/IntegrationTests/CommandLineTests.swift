import BackupCore
import BackupModel
import BackupPOSIX
import BackupProcess
import Foundation
import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// The `gwbackup` binary, run as an operator runs it.
@Suite("gwbackup command line")
struct CommandLineTests {
    /// The binary built beside the test bundle.
    static let binary: String = {
        let tests = (try? FileTree.readLink("/proc/self/exe")) ?? ""
        return (tests as NSString).deletingLastPathComponent + "/gwbackup"
    }()

    /// Runs gwbackup with `arguments` and extra environment; returns status, stdout, stderr.
    @discardableResult
    /// On a thread of its own: a test waiting for a process must not hold one of the few threads
    /// every other test (and the servers they start) runs on.
    func gwbackup(_ arguments: [String], environment: [String: String] = [:], timeout: Duration = .seconds(300)) async throws -> (status: Int32, stdout: String, stderr: String) {
        let child = ChildProcess(
            executable: Self.binary, arguments: arguments,
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin", "GWBACKUP_SHARE": Fixture.repository].merging(environment) { $1 },
            timeout: timeout)
        let outcome = try await Blocking.run { try child.run(input: Data()) }
        return (outcome.status, String(decoding: outcome.stdout, as: UTF8.self), String(decoding: outcome.stderr, as: UTF8.self))
    }

    func common(_ fixture: Fixture) -> [String] {
        ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state]
    }

    /// Files are read with O_NOATIME, which the kernel refuses (EPERM) to a process that neither owns
    /// the file nor has CAP_FOWNER: such a reader falls back to an ordinary read. Run as nobody on
    /// root's file (so it needs root to start).
    @Test(.enabled(if: getuid() == 0))
    func aFileThisUserDoesNotOwnIsStillRead() async throws {
        let directory = try TemporaryDirectory("noatime-fallback")
        chmod(directory.path, 0o755)
        let manifest = try directory.write("manifest.json", String(decoding: try FileTree.readFile(Fixture.repository + "/manifests/flowgateway.json"), as: UTF8.self), mode: 0o644)
        let child = ChildProcess(
            executable: "/usr/bin/setpriv", arguments: ["--reuid=65534", "--regid=65534", "--clear-groups", Self.binary, "manifest", "check", manifest],
            environment: ["PATH": "/usr/local/bin:/usr/bin:/bin"], timeout: .seconds(60))
        let outcome = try await Blocking.run { try child.run(input: Data()) }
        let output = String(decoding: outcome.stdout + outcome.stderr, as: UTF8.self)
        #expect(outcome.status == 0, "\(output)")
        #expect(output.contains("OK (5 components"), "\(output)")
    }

    @Test func metricsFileAndRunIdForCLIOnlyUseAndTheSchedulesCommand() async throws {
        let fixture = try Fixture("cli-metrics")
        let environment = ["GWBACKUP_SECURITY_PWD": fixture.password.revealed]
        let metrics = fixture.directory.sub("textfile/gwbackup.prom")
        try FileTree.makeDirectories(fixture.directory.sub("textfile"))
        let backup = try await self.gwbackup(["backup", "--metrics-file", metrics, "--run-id", "nightly-42"] + self.common(fixture), environment: environment)
        #expect(backup.status == 0, "\(backup.stderr)")
        let text = String(decoding: try FileTree.readFile(metrics), as: UTF8.self)
        #expect(text.contains(#"gwbackup_job_runs_total{operation="backup",result="completed"} 1"#), "\(text)")
        #expect(try FileStatus.of(metrics)?.mode == 0o644)
        #expect(try shell("promtool check metrics < \(metrics) 2>&1; echo rc=$?").output.contains("rc=0"))
        let status = try await self.gwbackup(["status", "--json", "--state-dir", fixture.state])
        #expect(status.stdout.contains(#""run_id" : "nightly-42""#) || status.stdout.contains(#""run_id": "nightly-42""#), "\(status.stdout)")
        #expect(status.stdout.contains("last_successful"), "the API's rendering")
        // A restore updates the same file; a bad run id is refused before anything runs.
        let restore = try await self.gwbackup(["restore", "--metrics-file", metrics] + self.common(fixture), environment: environment)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(String(decoding: try FileTree.readFile(metrics), as: UTF8.self).contains(#"gwbackup_job_runs_total{operation="restore",result="completed"} 1"#))
        let badID = try await self.gwbackup(["backup", "--run-id", "a b"] + self.common(fixture), environment: environment)
        #expect(badID.status != 0 && badID.stderr.contains("--run-id"), "\(badID.stderr)")

        // gwbackup schedules: next run, and the problem of a credentials file others can read.
        let credentials = fixture.directory.sub("nightly.credentials")
        try FileTree.writeAtomically(Data(#"{"security_pwd": "s"}"#.utf8), to: credentials, mode: 0o600)
        let config = fixture.directory.sub("serve.json")
        try FileTree.writeAtomically(Data(#"{"stateDirectory": "\#(fixture.state)", "schedules": [{"name": "nightly", "cron": "15 2 * * *", "timeZone": "Europe/Paris", "destination": {"hostname": "localhost"}, "credentialsFile": "\#(credentials)", "retention": {"keepDaily": 7}}]}"#.utf8), to: config)
        let listed = try await self.gwbackup(["schedules", "--config", config])
        #expect(listed.status == 0 && listed.stdout.contains("nightly  15 2 * * *  (Europe/Paris)") && listed.stdout.contains("next run:") && listed.stdout.contains(" 02:15 GMT+"), "\(listed.stdout) \(listed.stderr)")
        _ = try shell("chmod 644 \(credentials)")
        let problem = try await self.gwbackup(["schedules", "--config", config])
        #expect(problem.status == 1 && problem.stdout.contains("PROBLEM:") && problem.stdout.contains("can be read by others"), "\(problem.stdout)")
        let invalid = fixture.directory.sub("bad.json")
        try FileTree.writeAtomically(Data(#"{"schedules": [{"name": "x", "cron": "61 * * * *", "destination": {"hostname": "localhost"}, "credentialsFile": "/c"}]}"#.utf8), to: invalid)
        let refused = try await self.gwbackup(["schedules", "--config", invalid])
        #expect(refused.status != 0 && refused.stderr.contains("minute"), "\(refused.stderr)")
        try FileTree.writeAtomically(Data(#"{"schedules": [{"name": "x", "cron": "1 * * * *", "destination": {"hostname": "localhost"}, "credentialsFile": "/c", "security_pwd": "oops"}]}"#.utf8), to: invalid)
        let secret = try await self.gwbackup(["schedules", "--config", invalid])
        #expect(secret.status != 0 && secret.stderr.contains("secrets go in its credentialsFile") && !secret.stderr.contains("oops"), "\(secret.stderr)")
    }

    @Test func backupListVerifyRestoreAndStatusWorkEndToEnd() async throws {
        let fixture = try Fixture("cli")
        let environment = ["GWBACKUP_SECURITY_PWD": fixture.password.revealed]
        let backup = try await self.gwbackup(["backup"] + self.common(fixture), environment: environment)
        #expect(backup.status == 0, "\(backup.stderr)")
        #expect(backup.stdout.contains("backup COMPLETED"))

        let list = try await self.gwbackup(["list", "--json", "--path", fixture.backups])
        let listing = try JSONSerialization.jsonObject(with: Data(list.stdout.utf8)) as? [String: Any]
        let backups = try #require(listing?["backups"] as? [[String: Any]])
        #expect(backups.count == 1)
        #expect((backups.first?["components"] as? [String]) == ["config", "cloak_key", "snmp", "ntp", "certificates"])

        let checksum = try await self.gwbackup(["verify", "--path", fixture.backups])
        #expect(checksum.status == 0 && checksum.stdout.contains("verify (checksum) OK"), "\(checksum.stdout)\(checksum.stderr)")
        let decrypt = try await self.gwbackup(["verify", "--path", fixture.backups, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile, "--json"])
        #expect(decrypt.status == 0, "\(decrypt.stdout)\(decrypt.stderr)")
        #expect(decrypt.stdout.contains("\"mode\" : \"decrypt\""))

        try fixture.mutateAppliance()
        let dryRun = try await self.gwbackup(["restore", "--dry-run", "--security-pwd-file", fixture.passwordFile] + self.common(fixture))
        #expect(dryRun.status == 0 && dryRun.stdout.contains("dry run"), "\(dryRun.stdout)")
        let wrong = try await self.gwbackup(["restore"] + self.common(fixture), environment: ["GWBACKUP_SECURITY_PWD": "wrong"])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.contains("the security password opens none of"))
        let restore = try await self.gwbackup(["restore", "--security-pwd-file", fixture.passwordFile] + self.common(fixture))
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")

        let status = try await self.gwbackup(["status", "--json", "--state-dir", fixture.state])
        let both = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: [String: Any]]
        #expect((both?["backup"]?["running"] as? [String: Any])?["status"] as? String == "COMPLETED")
        #expect((both?["restore"]?["status"] as? String) == "COMPLETED")
        #expect(!status.stdout.contains(fixture.password.revealed))
    }

    @Test func aDamagedBackupFailsVerificationWithExitCode1() async throws {
        let fixture = try Fixture("cli")
        #expect(try await self.gwbackup(["backup", "--security-pwd-file", fixture.passwordFile] + self.common(fixture)).status == 0)
        let file = try fixture.onlyBackup() + "/config.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data[data.count - 5] ^= 0xFF
        try FileTree.remove(file)
        try FileTree.writeAtomically(data, to: file)
        let verify = try await self.gwbackup(["verify", "--path", fixture.backups])
        #expect(verify.status == 1)
        #expect(verify.stdout.contains("config") && verify.stdout.contains("does not match the SHA-256"))
    }

    @Test func badInputGetsClearErrorsAndDocumentedExitCodes() async throws {
        let fixture = try Fixture("cli")
        try fixture.directory.write("bad.json", #"{"version":2,"appliance":"fg","components":[{"name":"x","plugin":"nosuch"},{"name":"y","plugin":"fileset","parameters":{"paths":["../etc"]}}]}"#)
        let check = try await self.gwbackup(["manifest", "check", fixture.directory.sub("bad.json")])
        #expect(check.status == 2)
        #expect(check.stdout.contains("field 'version': unknown manifest version 2"))
        #expect(check.stdout.contains("component 'x', field 'plugin': unknown plugin 'nosuch'"))
        #expect(check.stdout.contains("component 'y', field 'parameters.paths[0]'"))
        let good = try await self.gwbackup(["manifest", "check", Fixture.repository + "/manifests/flowgateway.json"])
        #expect(good.status == 0, "\(good.stdout)\(good.stderr)")

        let noPassword = try await self.gwbackup(["backup"] + self.common(fixture))
        #expect(noPassword.status == 2 && noPassword.stderr.contains("GWBACKUP_SECURITY_PWD"))
        let missingFile = try await self.gwbackup(["backup", "--security-pwd-file", "/nonexistent"] + self.common(fixture))
        #expect(missingFile.status == 2 && missingFile.stderr.contains("cannot read the secret file /nonexistent"))
        let nothing = try await self.gwbackup(["restore", "--security-pwd-file", fixture.passwordFile] + self.common(fixture))
        #expect(nothing.status == 1 && nothing.stdout.contains("does not exist"), "\(nothing.stdout)")
        let usage = try await self.gwbackup(["backup", "--port", "99999"])
        #expect(usage.status == 64)
    }

    @Test func pluginsAreListedAndBrokenOnesReported() async throws {
        let fixture = try Fixture("cli")
        let plugins = try await self.gwbackup(["plugins", "--json"])
        #expect(plugins.status == 0)
        for id in ["\"fileset\"", "\"certificates\"", "\"sqlite-config\""] { #expect(plugins.stdout.contains(id)) }
        try fixture.directory.write("plugins/broken/plugin.json", #"{"id":"broken","version":"1","protocol":1,"executable":"gone.sh"}"#)
        let broken = try await self.gwbackup(["plugins", "--plugin-dir", fixture.directory.sub("plugins")])
        #expect(broken.status == 2)
        #expect(broken.stdout.contains("BROKEN: \(fixture.directory.sub("plugins/broken")): executable"))
    }

    @Test func aKilledBackupLeavesNoCompleteBackupAndIsReportedAsInterrupted() async throws {
        let fixture = try Fixture("kill")
        let environment = ["GWBACKUP_SECURITY_PWD": fixture.password.revealed]
        #expect(try await self.gwbackup(["backup"] + self.common(fixture), environment: environment).status == 0)
        let first = try fixture.onlyBackup()

        try fixture.directory.write("plugins/slow/plugin.json", #"{"id":"slow","version":"1","protocol":1,"executable":"slow.sh"}"#)
        try fixture.directory.write("plugins/slow/slow.sh", "#!/bin/sh\nexec sleep 120\n", mode: 0o755)
        var manifest = try fixture.manifest()
        manifest.components.insert(ManifestComponent(name: "slow", plugin: "slow"), at: 3)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(manifest), to: fixture.directory.sub("slow.json"))
        // Started in the background by a shell, so the test holds no pipe to it and can kill it outright.
        let arguments = (["backup", "--manifest", fixture.directory.sub("slow.json"), "--plugin-dir", fixture.directory.sub("plugins")] + self.common(fixture)).joined(separator: " ")
        let pid = try startInBackground("env GWBACKUP_SHARE=\(Fixture.repository) GWBACKUP_SECURITY_PWD='\(fixture.password.revealed)' \(Self.binary) \(arguments)", output: "/dev/null")
        // Wait until the backup is inside the slow component, three components already stored.
        var running = false
        for _ in 0..<300 where !running {
            try await Task.sleep(for: .milliseconds(100))
            let status = try? fixture.runtime.status.backupStatus()
            running = status?.running.components.first { $0.name == "slow" }?.status == .running
        }
        #expect(running)

        let busy = try await self.gwbackup(["backup"] + self.common(fixture), environment: environment)
        #expect(busy.status == 3, "\(busy.stderr)")
        #expect(busy.stderr.contains("another job is running: backup to local \(fixture.backups)"))

        signalBackground(pid, SIGKILL)
        while backgroundIsRunning(pid) { try await Task.sleep(for: .milliseconds(50)) }
        let entries = try FileTree.names(in: fixture.backups)
        #expect(entries.contains { $0.hasPrefix(StoredEntry.temporaryPrefix) }, "the partial backup stays invisible")
        let status = try await self.gwbackup(["status", "--json", "--state-dir", fixture.state])
        let both = try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: [String: Any]]
        let runningRecord = both?["backup"]?["running"] as? [String: Any]
        #expect(runningRecord?["status"] as? String == "ERROR")
        #expect((runningRecord?["message"] as? String)?.hasPrefix("interrupted") == true)
        let last = both?["backup"]?["last_successful"] as? [String: Any]
        #expect(last?["subdir"] as? String == first)

        let list = try await self.gwbackup(["list", "--path", fixture.backups])
        #expect(list.stdout.contains((first as NSString).lastPathComponent))
        #expect(list.stdout.contains("ignored: .partial-"))
        try fixture.mutateAppliance()
        let restore = try await self.gwbackup(["restore", "--component", "ntp"] + self.common(fixture), environment: environment)
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        #expect(restore.stdout.contains((first as NSString).lastPathComponent))
        // The next backup cleans up the staging area the killed one left.
        #expect(try await self.gwbackup(["backup"] + self.common(fixture), environment: environment).status == 0)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
    }
}

/// `gwbackup serve` as an operator runs it: a SIGTERM during a job stops the job cleanly and leaves
/// ERROR, never EXECUTING.
@Suite("gwbackup serve", .serialized)
struct ServeCommandTests {
    /// POSTs `body` to the API of `server` with curl (credentials and body from files, never argv).
    func post(_ server: ServeProcess, _ job: String, body: String) throws -> String {
        let fixture = server.fixture
        try fixture.directory.write("auth", "Authorization: Basic \(Data("operator:operator-password".utf8).base64EncodedString())\n", mode: 0o600)
        try fixture.directory.write("body.json", body, mode: 0o600)
        return try shell("curl -sk -o /dev/null -w '%{http_code}' -H @\(fixture.directory.sub("auth")) -H 'Content-Type: application/json' --data-binary @\(fixture.directory.sub("body.json")) https://127.0.0.1:\(server.port)/api/mgmt.gateway_backup/1.0/\(job)").output
    }

    /// Waits (up to 20 s) until `slow` runs in the latest backup, or in a restore once config is
    /// applied (it also shows as running while it is verified, before anything is applied).
    func slowRuns(_ fixture: Fixture, restore: Bool) async throws -> Bool {
        for _ in 0..<200 {
            let record = restore ? try? fixture.runtime.status.restoreStatus() : (try? fixture.runtime.status.backupStatus())?.running
            let slow = record?.components.first { $0.name == "slow" }?.status
            let config = record?.components.first { $0.name == "config" }?.status
            if slow == .running && (!restore || config == .ok) { return true }
            try await Task.sleep(for: .milliseconds(100))
        }
        return false
    }

    /// True when a process runs `sleep SECONDS` (the plugin, after its `exec`).
    func pluginStillRuns(seconds: Int) throws -> Bool {
        processRuns(["sleep", "\(seconds)"])
    }

    /// A server whose stderr is a FIFO this test holds open and does not read (opened O_RDWR, which
    /// never waits for a writer): a stopped terminal, a stalled journald. Returns the server, the
    /// read end, and the answers to `requests` status GETs made on one connection (each logs a line
    /// of ~170 bytes).
    func serverWithStalledStderr(_ fixture: Fixture, requests: Int) async throws -> (ServeProcess, Int32, [Substring]) {
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        let fifo = fixture.directory.sub("stderr.fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        let reader = open(fifo, O_RDWR | O_NONBLOCK)
        #expect(reader >= 0)
        let server = try await ServeProcess(fixture, errors: fifo)
        try fixture.directory.write("auth", "Authorization: Basic \(Data("operator:operator-password".utf8).base64EncodedString())\n", mode: 0o600)
        let url = "https://127.0.0.1:\(server.port)/api/mgmt.gateway_backup/1.0/backup"
        try fixture.directory.write("requests", String(repeating: "url = \"\(url)\"\noutput = \"/dev/null\"\n", count: requests))
        let answers = try shell("curl -sk --max-time 120 -H @\(fixture.directory.sub("auth")) -K \(fixture.directory.sub("requests")) -w '%{http_code}\\n'").output
        return (server, reader, answers.split(separator: "\n"))
    }

    @Test func aServerWhoseStderrStopsDrainingGoesOnAnsweringAndReportsTheLinesItDropped() async throws {
        let fixture = try Fixture("serve-stalled-log")
        // 8,000 lines of ~170 bytes: 1.3 MB, more than the pipe (64 KiB) and the log queue (1 MiB) hold.
        let (server, reader, answers) = try await self.serverWithStalledStderr(fixture, requests: 8000)
        defer { close(reader) }
        #expect(answers.count == 8000 && answers.allSatisfy { $0 == "200" }, "every request answered: \(Set(answers))")
        // The output drains again: the lines kept arrive, then how many were lost.
        let log = try await read(from: reader, until: { $0.contains("lines were dropped\n") }, seconds: 30)
        let report = log.split(separator: "\n").first { $0.contains("lines were dropped") }.map(String.init) ?? ""
        let dropped = report.split(separator: " ").first { $0.hasPrefix("dropped=") }.flatMap { Int($0.dropFirst(8)) } ?? 0
        let requestLines = log.split(separator: "\n").filter { $0.contains("path=/api/mgmt.gateway_backup/1.0/backup") && $0.hasSuffix("request") }
        #expect(dropped > 0, "\(report)")
        #expect(requestLines.count > 6000, "the queue's and the pipe's worth were kept")
        #expect(requestLines.count + dropped >= 8000, "every request's line is written or counted: \(requestLines.count) + \(dropped)")
        try await server.stop(SIGTERM)
        #expect(!backgroundIsRunning(server.pid))
    }

    @Test func aServerWhoseStderrStopsDrainingStillStopsOnSIGTERM() async throws {
        let fixture = try Fixture("serve-stalled-stop")
        let (server, reader, answers) = try await self.serverWithStalledStderr(fixture, requests: 1000)
        defer { close(reader) }
        #expect(answers.count == 1000 && answers.allSatisfy { $0 == "200" })
        // Its shutdown logs lines too, which the stalled output will not take: it gives them up after
        // a bounded wait instead of hanging (the server before this change did not stop at all).
        try await server.stop(SIGTERM)
        #expect(!backgroundIsRunning(server.pid), "gwbackup serve ended with its stderr still stalled")
        let log = try await read(from: reader, until: { $0.hasSuffix("\n") }, seconds: 5)
        #expect(log.contains("[GatewayAPI] request"), "what the pipe held is the server's log")
    }

    @Test func aSIGTERMDuringABackupStopsItsPluginAndMarksItInterrupted() async throws {
        let fixture = try Fixture("serve")
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        let manifest = try fixture.slowManifest(script: "exec sleep 61")
        let server = try await ServeProcess(fixture, manifest: manifest)
        #expect(try self.post(server, "backup", body: #"{"hostname":"localhost","security_pwd":"pw"}"#) == "204")
        #expect(try await self.slowRuns(fixture, restore: false))
        #expect(try await processStarts(["sleep", "61"]), "the plugin runs, and the detector sees it")
        try await server.stop(SIGTERM)
        let status = try fixture.runtime.status.backupStatus().running
        #expect(status.status == .error)
        #expect(status.message.contains("interrupted: the server is shutting down"), "\(status.message)")
        #expect(status.components.first { $0.name == "slow" }?.status == .failed)
        #expect(!(try self.pluginStillRuns(seconds: 61)), "the plugin's process group was killed")
        #expect(try FileTree.names(in: fixture.backups).isEmpty, "nothing committed, nothing left behind")
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
        let log = try String(decoding: FileTree.readFile(server.output), as: UTF8.self)
        #expect(log.contains("the running job was stopped for the shutdown"), "\(log)")
    }

    @Test func stoppingASecondServerOnTheSameStateLeavesTheFirstServersJobAlone() async throws {
        let fixture = try Fixture("serve-two")
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        let manifest = try fixture.slowManifest(script: "exec sleep 64")
        let first = try await ServeProcess(fixture, manifest: manifest)
        #expect(try self.post(first, "backup", body: #"{"hostname":"localhost","security_pwd":"pw"}"#) == "204")
        #expect(try await self.slowRuns(fixture, restore: false))
        let second = try await ServeProcess(fixture, manifest: manifest)
        try await second.stop(SIGTERM)
        let running = try fixture.runtime.status.backupStatus().running
        #expect(running.status == .executing, "the first server's job is not the second's to mark: \(running.message)")
        try await first.stop(SIGTERM)
        #expect(try fixture.runtime.status.backupStatus().running.status == .error)
    }

    @Test func aSIGTERMDuringARestoreRollsBackWhatItChanged() async throws {
        let fixture = try Fixture("serve-restore")
        try UserStore(path: fixture.state + "/users.json").set("operator", password: Secret("operator-password"))
        // `slow` comes after config: config is applied, then slow's restore hangs until the shutdown.
        let script = """
            if [ "$GWBACKUP_ACTION" = restore ] && [ "$GWBACKUP_ROLLBACK" = 0 ]; then exec sleep 62; fi
            echo '{"protocol":1,"status":"ok"}'
            """
        let manifestPath = try fixture.slowManifest(script: script, position: 1)
        let manifest = try fixture.runtime.manifest(path: manifestPath)
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        try fixture.mutateAppliance()
        let mutated = try fixture.databaseDump()
        let server = try await ServeProcess(fixture, manifest: manifestPath)
        #expect(try self.post(server, "restore", body: #"{"hostname":"localhost","security_pwd":"\#(fixture.password.revealed)"}"#) == "204")
        #expect(try await self.slowRuns(fixture, restore: true))
        #expect(try await processStarts(["sleep", "62"]), "the plugin runs, and the detector sees it")
        try await server.stop(SIGTERM)
        let record = try fixture.runtime.status.restoreStatus()
        #expect(record.status == .error)
        #expect(record.message.contains("interrupted: the server is shutting down"), "\(record.message)")
        #expect(record.message.contains("rolled back to its state before the restore"), "\(record.message)")
        #expect(record.components.first { $0.name == "config" }?.status == .rolledBack, "\(record.components)")
        #expect(try fixture.databaseDump() == mutated, "the configuration is as it was before the restore")
        #expect(!(try self.pluginStillRuns(seconds: 62)))
    }
}

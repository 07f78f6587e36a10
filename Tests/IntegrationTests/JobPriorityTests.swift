import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// A job's work runs at a lower priority than its caller (`Orchestrator.jobNiceness`), down to the
/// processes it starts, so that the appliance and the API reporting on the job stay responsive.
@Suite("Job priority")
struct JobPriorityTests {
    @Test func blockingWorkTakesTheNicenessOfItsTaskAndNothingElseDoes() async throws {
        let before = Blocking.currentNiceness
        let niced = try await Blocking.$niceness.withValue(7) { try await Blocking.run { Blocking.currentNiceness } }
        #expect(niced == 7)
        // Only the thread it started: the next one, outside that task, is as the process was.
        #expect(try await Blocking.run { Blocking.currentNiceness } == before)
        #expect(Blocking.currentNiceness == before)
    }

    /// Adds plugin `nice`, which appends its nice value to `niceness-seen`, first in the manifest.
    /// It writes beside the root, which the sandbox forbids: it runs as `--no-sandbox` does.
    func niceManifest(_ fixture: Fixture) throws -> Manifest {
        fixture.sandbox = false
        let seen = fixture.directory.sub("niceness-seen")
        try fixture.directory.write("plugins/nice/plugin.json", #"{"id":"nice","version":"1","protocol":1,"executable":"run.sh"}"#)
        // Field 19 of /proc/PID/stat is the nice value.
        try fixture.directory.write("plugins/nice/run.sh", """
            #!/bin/sh
            cat >/dev/null
            cut -d' ' -f19 /proc/$$/stat >> \(seen)
            echo '{"protocol":1,"status":"ok"}'

            """, mode: 0o755)
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.insert(ManifestComponent(name: "nice", plugin: "nice"), at: 0)
        return manifest
    }

    @Test func aJobsPluginRunsAtTheJobsNiceness() async throws {
        let fixture = try Fixture("niceness")
        let manifest = try self.niceManifest(fixture)
        var orchestrator = fixture.runtime.orchestrator()
        #expect(orchestrator.jobNiceness == Orchestrator.defaultJobNiceness)
        orchestrator.jobNiceness = 12
        let record = try await orchestrator.backup(BackupRequest(target: fixture.target, store: fixture.store, manifest: manifest, securityPassword: fixture.password))
        #expect(record.status == .completed, "\(record.message)")
        #expect(try fixture.directory.read("niceness-seen") == "12\n")
        // 0 leaves the job as its caller.
        orchestrator.jobNiceness = 0
        let again = try await orchestrator.backup(BackupRequest(target: fixture.target, store: fixture.store, manifest: manifest, securityPassword: fixture.password))
        #expect(again.status == .completed, "\(again.message)")
        #expect(try fixture.directory.read("niceness-seen") == "12\n\(Blocking.currentNiceness)\n")

        // The command line's --nice, and its default.
        let manifestPath = fixture.directory.sub("nice.json")
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(manifest), to: manifestPath)
        let cli = CommandLineTests()
        let options = ["--manifest", manifestPath, "--plugin-dir", fixture.directory.sub("plugins"), "--security-pwd-file", fixture.passwordFile, "--no-sandbox"] + cli.common(fixture)
        let niced = try await cli.gwbackup(["backup", "--nice", "15"] + options)
        #expect(niced.status == 0, "\(niced.stderr)")
        let byDefault = try await cli.gwbackup(["backup"] + options)
        #expect(byDefault.status == 0, "\(byDefault.stderr)")
        #expect(try fixture.directory.read("niceness-seen") == "12\n\(Blocking.currentNiceness)\n15\n10\n")
    }

    @Test func theServersJobsRunAtItsConfiguredNiceness() async throws {
        let fixture = try APIServerTests().fixture()
        let manifest = try self.niceManifest(fixture)
        let manifestPath = fixture.directory.sub("nice.json")
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(manifest), to: manifestPath)
        let server = try await APIServer.start(fixture) {
            $0.manifest = manifestPath
            $0.jobNiceness = 4
        }
        defer { Task { await server.stop() } }
        #expect(try await server.call("POST", "\(APIServerTests.base)/backup", body: #"{"hostname":"localhost","security_pwd":"s"}"#).status == 204)
        let backup = try await server.waitForJob("\(APIServerTests.base)/backup")
        #expect(backup["status"] as? String == "COMPLETED", "\(backup)")
        #expect(try fixture.directory.read("niceness-seen") == "4\n")
    }
}

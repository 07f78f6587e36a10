import BackupCore
import Foundation
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

    @Test func aJobsPluginRunsAtTheJobsNiceness() async throws {
        let fixture = try Fixture("niceness")
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
    }
}

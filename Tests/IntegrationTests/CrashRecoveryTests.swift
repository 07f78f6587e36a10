import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// A restore killed with SIGKILL while it applies components (issue 9): the journal it wrote before
/// the first change lets whoever starts next put the appliance back exactly as it was.
@Suite("Crash-proof restore")
struct CrashRecoveryTests {
    let cli = CommandLineTests()

    func common(_ fixture: Fixture) -> [String] {
        ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state]
    }

    /// Waits for `condition` with a deadline.
    func wait(seconds: Double = 60, _ condition: () throws -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if try condition() { return true }
            try await Task.sleep(for: .milliseconds(50))
        }
        return false
    }

    /// A backup with a last component `slow` whose restore (not its rollback) blocks; then a restore
    /// of it started in the background and killed once `slow` runs, all the other components applied.
    func killedRestore(_ fixture: Fixture, sleep: String) async throws -> (before: [String: String], dump: String, manifest: String) {
        // In its staging directory, the one place a sandboxed step may write.
        let manifest = try fixture.slowManifest(script: """
            if [ "$GWBACKUP_ACTION" = restore ] && [ "$GWBACKUP_ROLLBACK" = 0 ]; then touch "$GWBACKUP_STAGING/slow-restoring"; exec sleep \(sleep); fi
            echo '{"protocol":1,"status":"ok"}'
            """, position: 5)
        let environment = ["GWBACKUP_SECURITY_PWD": fixture.password.revealed]
        let plugins = ["--manifest", manifest, "--plugin-dir", fixture.directory.sub("plugins")]
        let backup = try await self.cli.gwbackup(["backup"] + plugins + self.common(fixture), environment: environment)
        #expect(backup.status == 0, "\(backup.stderr)")
        try fixture.mutateAppliance()
        let dump = try fixture.databaseDump()
        let before = try fixture.snapshotWithoutDatabase()
        // Started by a shell in the background: the test holds no pipe to it and keeps its PID.
        let arguments = (["restore"] + plugins + self.common(fixture)).joined(separator: " ")
        let pid = try startInBackground(
            "env GWBACKUP_SHARE=\(Fixture.repository) GWBACKUP_SECURITY_PWD='\(fixture.password.revealed)' \(CommandLineTests.binary) \(arguments)",
            output: fixture.directory.sub("restore.out"))
        let reached = try await self.wait { try fixture.stagedFile(named: "slow-restoring") != nil }
        #expect(reached, "the restore reached the last component: \((try? fixture.directory.read("restore.out")) ?? "")")
        #expect(try RestoreJournal.open(in: fixture.state)?.entries.filter(\.applied).count == 5, "five components applied and journaled")
        #expect(try fixture.snapshotWithoutDatabase() != before, "the appliance is half restored")
        signalBackground(pid, SIGKILL)
        #expect(try await self.wait { !backgroundIsRunning(pid) })
        // The plugin dies with gwbackup (parent-death signal).
        #expect(try await self.wait { !processRuns(["sleep", sleep]) })
        return (before, dump, manifest)
    }

    @Test func aRestoreKilledWhileApplyingIsRolledBackByTheNextJob() async throws {
        let fixture = try Fixture("crash-restore")
        let (before, dump, _) = try await self.killedRestore(fixture, sleep: "171.25")
        let status = try await self.cli.gwbackup(["status", "--state-dir", fixture.state])
        #expect(status.stdout.contains("PENDING RECOVERY: the restore of flowgateway-"), "\(status.stdout)\(status.stderr)")
        #expect(status.stdout.contains("restore ERROR"), "never EXECUTING once its process is gone: \(status.status) \(status.stdout) \(status.stderr)")

        // Any job recovers first: here a plain backup of the default manifest.
        let next = try await self.cli.gwbackup(["backup", "--plugin-dir", fixture.directory.sub("plugins")] + self.common(fixture), environment: ["GWBACKUP_SECURITY_PWD": fixture.password.revealed])
        #expect(next.status == 0, "\(next.stderr)")
        // The backup itself opened the database after the rollback, which made its -wal and -shm files.
        let after = try fixture.snapshotWithoutDatabase().filter { !$0.key.hasSuffix(".db-wal") && !$0.key.hasSuffix(".db-shm") }
        #expect(after == before.filter { !$0.key.hasSuffix(".db-wal") && !$0.key.hasSuffix(".db-shm") }, "exactly the pre-restore state: \(after.filter { before[$0.key] != $0.value }) was \(before.filter { after[$0.key] != $0.value })")
        #expect(try fixture.databaseDump() == dump)
        #expect(try RestoreJournal.open(in: fixture.state) == nil, "the journal is closed")
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "the pre-restore copies went with it")
        let restore = try fixture.runtime.status.restoreStatus()
        #expect(restore.status == .error)
        #expect(restore.message.hasPrefix("interrupted, rolled back"), "\(restore.message)")
    }

    @Test func serveRollsBackAnInterruptedRestoreAtStartUp() async throws {
        let fixture = try Fixture("crash-serve")
        let (before, dump, _) = try await self.killedRestore(fixture, sleep: "171.5")
        let server = try await ServeProcess(fixture)
        #expect(try fixture.snapshotWithoutDatabase() == before)
        #expect(try fixture.databaseDump() == dump)
        #expect(try RestoreJournal.open(in: fixture.state) == nil)
        #expect(try fixture.runtime.status.restoreStatus().message.hasPrefix("interrupted, rolled back"))
        try await server.stop()
    }

    @Test func aRecoveryInterruptedItselfIsFinishedTheSameWay() async throws {
        let fixture = try Fixture("crash-twice")
        let (before, dump, _) = try await self.killedRestore(fixture, sleep: "171.75")
        // A recovery that died after rolling back some components: replaying it is harmless.
        let journal = try #require(try RestoreJournal.open(in: fixture.state))
        let orchestrator = fixture.runtime.orchestrator()
        let first = journal.entries[0]
        let plugin = try #require(orchestrator.registry.plugin(id: first.component.plugin))
        _ = try await plugin.restore(PluginContext(component: first.component.name, applianceRoot: fixture.root, stagingDirectory: first.rollback, parameters: first.component.parameters, isRollback: true, logger: fixture.runtime.logger))
        let note = try await orchestrator.recover()
        #expect(note?.hasPrefix("interrupted, rolled back") == true, "\(note ?? "nil")")
        #expect(try fixture.snapshotWithoutDatabase() == before)
        #expect(try fixture.databaseDump() == dump)
        #expect(try await orchestrator.recover() == nil, "nothing left to do")
    }

    @Test func aJobOverItsDeadlineIsStoppedAndCommitsNothing() async throws {
        let fixture = try Fixture("deadline")
        let manifestPath = try fixture.slowManifest(script: "exec sleep 173.5", position: 2)
        var orchestrator = fixture.runtime.orchestrator()
        orchestrator.jobDeadlineSeconds = 1
        let record = try await orchestrator.backup(BackupRequest(
            target: fixture.target, store: fixture.store, manifest: try fixture.runtime.manifest(path: manifestPath), securityPassword: fixture.password))
        #expect(record.status == .error, "\(record.message)")
        #expect(record.message.contains("ran longer than its deadline of 1 s") && record.message.contains("nothing was committed"), "\(record.message)")
        #expect(try await self.wait { !processRuns(["sleep", "173.5"]) }, "the plugin was stopped with the job")
        #expect(try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test func anUnreadableJournalIsKeptForAPersonAndReported() async throws {
        let fixture = try Fixture("journal-garbage")
        try fixture.runtime.status.prepare()
        try fixture.directory.write("state/" + RestoreJournal.fileName, "{not a journal")
        let note = try await fixture.runtime.orchestrator().recover()
        #expect(note?.contains("unreadable") == true, "\(note ?? "nil")")
        #expect(try RestoreJournal.open(in: fixture.state) == nil, "moved aside: later jobs are not blocked")
        #expect(try FileTree.names(in: fixture.state).contains { $0.hasPrefix(RestoreJournal.fileName + ".unreadable-") })
        let record = try fixture.runtime.status.restoreStatus()
        #expect(record.status == .error && record.message.contains("could not be rolled back automatically"), "\(record.message)")
        #expect(try await fixture.backup().status == .completed, "the next job runs")
    }
}

import BackupArchive
import BackupCore
import BackupModel
import BackupPOSIX
import BackupCrypto
import BackupRuntime
import Foundation
@testable import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// Several components at once (`--jobs`): shown without timing, by two plugins that each wait for
/// the other to start. With room for both they meet; one at a time, the first waits in vain.
@Suite("Components at once")
struct ConcurrentComponentsTests {
    /// Adds plugins `left` and `right` to the fixture's manifest (first, in that order). In the
    /// `waitingAction`, each marks that it started and waits up to `patience` tenths of a second for
    /// the other's mark, failing when it does not come; `failing` makes that one fail once it marked.
    func rendezvousManifest(_ fixture: Fixture, waitingAction: String, patience: Int, failing: String? = nil) throws -> Manifest {
        let marks = fixture.directory.sub("marks")
        try FileTree.makeDirectories(marks)
        for (name, other) in [("left", "right"), ("right", "left")] {
            let fail = failing == name ? "echo 'refused on purpose' >&2; exit 1" : ""
            try self.writeScriptPlugin(fixture, id: name, verify: waitingAction == "verify", cases: """
                *'"\(waitingAction)"'*)
                    touch \(marks)/\(name)
                    \(fail)
                    i=0
                    while [ ! -e \(marks)/\(other) ] && [ $i -lt \(patience) ]; do sleep 0.1; i=$((i+1)); done
                    if [ ! -e \(marks)/\(other) ]; then echo '\(name) ran alone: \(other) never started' >&2; exit 1; fi ;;
                """)
        }
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.insert(contentsOf: [ManifestComponent(name: "left", plugin: "left"), ManifestComponent(name: "right", plugin: "right")], at: 0)
        return manifest
    }

    /// Writes plugin `id` (protocol 1, `run.sh`, with the verify action when `verify`): a script
    /// that reads the request, matches it against `cases` (arms of a shell `case`), and answers ok.
    /// These plugins meet through a directory of the test's, which the sandbox (rightly) keeps them
    /// from writing: they run as `--no-sandbox` does (the sandbox has its own suite).
    func writeScriptPlugin(_ fixture: Fixture, id: String, verify: Bool = false, cases: String) throws {
        fixture.sandbox = false
        let actions = verify ? #","actions":["verify"]"# : ""
        try fixture.directory.write("plugins/\(id)/plugin.json", #"{"id":"\#(id)","version":"1","protocol":1,"executable":"run.sh"\#(actions)}"#)
        try fixture.directory.write("plugins/\(id)/run.sh", """
            #!/bin/sh
            request=$(cat)
            case "$request" in
            \(cases)
            esac
            echo '{"protocol":1,"status":"ok"}'

            """, mode: 0o755)
    }

    func backup(_ fixture: Fixture, manifest: Manifest, jobs: Int) async throws -> JobRecord {
        let request = BackupRequest(target: fixture.target, store: fixture.store, manifest: manifest, securityPassword: fixture.password, jobs: jobs)
        return try await fixture.runtime.orchestrator().backup(request)
    }

    @Test func aBackupWorksOnAsManyComponentsAtOnceAsItsJobsAndKeepsTheManifestsOrder() async throws {
        let fixture = try Fixture("jobs")
        let manifest = try self.rendezvousManifest(fixture, waitingAction: "collect", patience: 300)
        let record = try await self.backup(fixture, manifest: manifest, jobs: 2)
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.components.map(\.name) == manifest.components.map(\.name))
        #expect(record.components.allSatisfy { $0.status == .ok }, "\(record.components)")
        // The index lists the components in the manifest's order, whatever order they finished in.
        let index = try BackupIndex.decode([UInt8](try FileTree.readFile(try fixture.onlyBackup() + "/manifest.json")), backup: record.backup ?? "")
        #expect(index.components.map(\.name) == manifest.components.map(\.name))
        // And it restores, with room for two at once as well.
        try fixture.mutateAppliance()
        let restored = try await fixture.runtime.orchestrator().restore(RestoreRequest(
            target: fixture.target, store: fixture.store, manifest: manifest, securityPassword: fixture.password, jobs: 2))
        #expect(restored.status == .completed, "\(restored.message)")
        #expect(try fixture.directory.read("appliance/etc/snmp/snmpd.conf") != "rocommunity public\n")
    }

    @Test func oneJobRunsOneComponentAtATime() async throws {
        let fixture = try Fixture("jobs-one")
        let manifest = try self.rendezvousManifest(fixture, waitingAction: "collect", patience: 20)
        let record = try await self.backup(fixture, manifest: manifest, jobs: 1)
        #expect(record.status == .error)
        #expect(record.message.contains("left ran alone"), "\(record.message)")
        // Nothing after the failure was started, and nothing was committed.
        #expect(record.components.first { $0.name == "right" }?.status == .pending, "\(record.components)")
        #expect(try FileTree.names(in: fixture.backups).filter { !$0.hasPrefix(".") }.isEmpty)
    }

    @Test func aComponentThatFailsWhileAnotherRunsFailsTheBackupAndCommitsNothing() async throws {
        let fixture = try Fixture("jobs-fail")
        let manifest = try self.rendezvousManifest(fixture, waitingAction: "collect", patience: 300, failing: "left")
        let record = try await self.backup(fixture, manifest: manifest, jobs: 2)
        #expect(record.status == .error)
        #expect(record.message.contains("left") && record.message.contains("nothing was committed"), "\(record.message)")
        #expect(record.components.first { $0.name == "left" }?.status == .failed, "\(record.components)")
        // The one under way ran to its end; no component after them was started.
        #expect(record.components.first { $0.name == "right" }?.status == .ok, "\(record.components)")
        #expect(record.components.dropFirst(2).allSatisfy { $0.status == .pending }, "\(record.components)")
        #expect(try FileTree.names(in: fixture.backups).isEmpty, "no complete backup and no partial one")
    }

    @Test func aRestoreVerifiesAsManyComponentsAtOnceAsItsJobsAndAFailureChangesNothing() async throws {
        let fixture = try Fixture("jobs-restore")
        let manifest = try self.rendezvousManifest(fixture, waitingAction: "verify", patience: 300)
        let backup = try await self.backup(fixture, manifest: manifest, jobs: 2)
        #expect(backup.status == .completed, "\(backup.message)")
        try fixture.mutateAppliance()
        let changed = try fixture.snapshotWithoutDatabase()

        // One at a time, left's verify waits for right's in vain: the restore fails before any change.
        try FileTree.remove(fixture.directory.sub("marks"))
        try FileTree.makeDirectories(fixture.directory.sub("marks"))
        let rewritten = try self.rendezvousManifest(fixture, waitingAction: "verify", patience: 20)
        let alone = try await fixture.runtime.orchestrator().restore(RestoreRequest(
            target: fixture.target, store: fixture.store, manifest: rewritten, securityPassword: fixture.password, jobs: 1))
        #expect(alone.status == .error)
        // (The restore starts the largest first; left and right are alike, so either waits alone.)
        #expect(alone.message.contains(" ran alone") && alone.message.contains("the appliance was not changed"), "\(alone.message)")
        #expect(try fixture.snapshotWithoutDatabase() == changed)

        try FileTree.remove(fixture.directory.sub("marks"))
        let both = try await fixture.runtime.orchestrator().restore(RestoreRequest(
            target: fixture.target, store: fixture.store, manifest: try self.rendezvousManifest(fixture, waitingAction: "verify", patience: 300), securityPassword: fixture.password, jobs: 2))
        #expect(both.status == .completed, "\(both.message)")
        #expect(both.components.map(\.name) == manifest.components.map(\.name))
        #expect(try fixture.directory.read("appliance/etc/snmp/snmpd.conf") != "rocommunity public\n")
    }

    /// Plugins `saver` and `checker` (first, in that order): `saver` marks when it saves its current
    /// state for a rollback (and with `failingSave` then fails); `checker`'s verify waits up to 30 s
    /// for that mark, failing without it.
    func saveWhileVerifyingManifest(_ fixture: Fixture, failingSave: Bool) throws -> Manifest {
        let marks = fixture.directory.sub("marks")
        try? FileTree.remove(marks)
        try FileTree.makeDirectories(marks)
        let fail = failingSave ? "echo 'cannot read the live state' >&2; exit 1" : ""
        try self.writeScriptPlugin(fixture, id: "saver", cases: """
            *'"collect"'*'"rollback":true'*|*'"rollback":true'*'"collect"'*) touch \(marks)/saved; \(fail) ;;
            """)
        try self.writeScriptPlugin(fixture, id: "checker", verify: true, cases: """
            *'"verify"'*)
                i=0
                while [ ! -e \(marks)/saved ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done
                if [ ! -e \(marks)/saved ]; then echo 'no state was saved while checker verified' >&2; exit 1; fi ;;
            """)
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.insert(contentsOf: [ManifestComponent(name: "saver", plugin: "saver"), ManifestComponent(name: "checker", plugin: "checker")], at: 0)
        return manifest
    }

    @Test func aRestoreSavesAComponentsStateWhileAnotherIsStillVerifiedAndAFailedSaveChangesNothing() async throws {
        let fixture = try Fixture("jobs-save")
        let manifest = try self.saveWhileVerifyingManifest(fixture, failingSave: false)
        let backup = try await self.backup(fixture, manifest: manifest, jobs: 2)
        #expect(backup.status == .completed, "\(backup.message)")
        try fixture.mutateAppliance()
        let changed = try fixture.snapshotWithoutDatabase()

        // The save of the current state fails: the restore stops before any change, and says why.
        let failing = try await fixture.runtime.orchestrator().restore(RestoreRequest(
            target: fixture.target, store: fixture.store, manifest: try self.saveWhileVerifyingManifest(fixture, failingSave: true), securityPassword: fixture.password, jobs: 2))
        #expect(failing.status == .error)
        #expect(failing.message.contains("could not save the current state") && failing.message.contains("cannot read the live state"), "\(failing.message)")
        #expect(failing.message.contains("the appliance was not changed"), "\(failing.message)")
        #expect(failing.components.first { $0.name == "saver" }?.status == .failed, "\(failing.components)")
        #expect(try fixture.snapshotWithoutDatabase() == changed)
        #expect(try RestoreJournal.open(in: fixture.state) == nil, "no journal: nothing was applied")

        // Saved while checker was still being verified (checker waits for the mark), then restored.
        let restored = try await fixture.runtime.orchestrator().restore(RestoreRequest(
            target: fixture.target, store: fixture.store, manifest: try self.saveWhileVerifyingManifest(fixture, failingSave: false), securityPassword: fixture.password, jobs: 2))
        #expect(restored.status == .completed, "\(restored.message)")
        #expect(try fixture.directory.read("appliance/etc/snmp/snmpd.conf") != "rocommunity public\n")
    }

    /// The real GPGME cipher with `before(call)` run ahead of each decryption, numbered from 1 (the
    /// first is the index's): a hook may wait, stop the job or throw.
    final class HookedCipher: PayloadCipher, @unchecked Sendable {
        let inner: any PayloadCipher
        let before: @Sendable (_ call: Int) throws -> Void
        private let lock = NSLock()
        private var calls = 0

        init(_ inner: any PayloadCipher, before: @escaping @Sendable (_ call: Int) throws -> Void) {
            self.inner = inner
            self.before = before
        }

        func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            try self.inner.encrypt(from: source, to: sink, passphrase: passphrase)
        }

        func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            let call = self.lock.withLock { () -> Int in
                self.calls += 1
                return self.calls
            }
            try self.before(call)
            try self.inner.decrypt(from: source, to: sink, passphrase: passphrase)
        }

        func releaseResources() { self.inner.releaseResources() }
        func removeAbandonedResources() { self.inner.removeAbandonedResources() }
    }

    /// Two parties meet: `arrive` waits up to `patience` seconds for a second arrival.
    final class Rendezvous: @unchecked Sendable {
        private let condition = NSCondition()
        private var arrived = 0

        func arrive(patience: Double) -> Bool {
            self.condition.withLock {
                self.arrived += 1
                self.condition.broadcast()
                let deadline = Date().addingTimeInterval(patience)
                while self.arrived < 2 {
                    if !self.condition.wait(until: deadline) { return self.arrived >= 2 }
                }
                return true
            }
        }
    }

    @Test func aVerificationChecksAsManyComponentsAtOnceAsItsJobsAndReportsEach() async throws {
        let fixture = try Fixture("jobs-verify")
        #expect(try await fixture.backup().status == .completed)
        let order = try BackupIndex.decode([UInt8](try FileTree.readFile(try fixture.onlyBackup() + "/manifest.json")), backup: "").components.map(\.name)
        for (jobs, meets) in [(1, false), (2, true)] {
            // Each component's decryption waits for a second one to have started, and fails without it.
            let rendezvous = Rendezvous()
            let cipher = HookedCipher(GPGSymmetricCipher()) { call in
                if call > 1, !rendezvous.arrive(patience: meets ? 30 : 2) {
                    throw BackupError(.cryptoFailed, "decrypted alone: no other component's decryption started")
                }
            }
            let verifier = BackupVerifier(store: fixture.store, cipher: cipher, archive: TarArchive(), decompressors: BackupRuntime.decompressors, jobs: jobs)
            let report = try await verifier.verify(backup: nil, passphrase: fixture.password)
            #expect(report.components.map(\.name) == order, "reported in the index's order, whatever order they finished in")
            if meets {
                #expect(report.ok && report.components.allSatisfy { $0.status == .ok }, "jobs 2: \(report.components)")
            } else {
                // One at a time, the first waits alone and fails; the rest are still checked, and pass.
                let failed = report.components.filter { $0.status == .failed }
                #expect(!report.ok && failed.count == 1, "jobs 1: \(report.components)")
                #expect(failed.first?.message.contains("decrypted alone") == true, "\(failed)")
                #expect(report.components.filter { $0.status == .ok }.count == order.count - 1, "\(report.components)")
            }
        }
    }

    @Test func aStoppedVerificationStartsNoMoreComponentsAndNeverReportsTheBackupGood() async throws {
        let fixture = try Fixture("verify-stopped")
        #expect(try await fixture.backup().status == .completed)
        let cancellation = JobCancellation()
        // The first component's decryption (the second call; the first is the index's) stops the job.
        let cipher = HookedCipher(GPGSymmetricCipher()) { call in
            if call == 2 { cancellation.cancel(reason: "stopped by the test") }
        }
        let verifier = BackupVerifier(
            store: fixture.store, cipher: cipher, archive: TarArchive(), decompressors: BackupRuntime.decompressors, jobs: 1, cancellation: cancellation)
        let report = try await verifier.verify(backup: nil, passphrase: fixture.password)
        #expect(!report.ok, "\(report.components)")
        // The one under way when the stop came was checked to its end; none was started after it.
        #expect(report.components.filter { $0.status == .ok }.count == 1, "\(report.components)")
        let unchecked = report.components.filter { $0.status == .failed }
        #expect(unchecked.count == report.components.count - 1 && unchecked.allSatisfy { $0.message == "not checked: interrupted: stopped by the test" }, "\(unchecked)")
    }

    @Test func aVerificationPastItsDeadlineChecksNothingMoreAndSaysWhy() async throws {
        let fixture = try Fixture("verify-deadline")
        #expect(try await fixture.backup().status == .completed)
        let cancellation = JobCancellation()
        // The index's decryption (the first call) waits, up to 30 s, for the deadline to fire.
        let cipher = HookedCipher(GPGSymmetricCipher()) { call in
            let deadline = Date().addingTimeInterval(30)
            while call == 1 && !cancellation.isCancelled && Date() < deadline { usleep(10_000) }
        }
        var verifier = BackupVerifier(
            store: fixture.store, cipher: cipher, archive: TarArchive(), decompressors: BackupRuntime.decompressors, cancellation: cancellation)
        verifier.deadlineSeconds = 1
        let report = try await verifier.verify(backup: nil, passphrase: fixture.password)
        #expect(!report.ok)
        #expect(report.components.allSatisfy { $0.status == .failed && $0.message == "not checked: interrupted: the job ran longer than its deadline of 1 s" }, "\(report.components)")
        // `gwbackup verify` gets the job deadline (`--job-deadline`) this way.
        #expect(fixture.runtime.verifier(store: fixture.store).deadlineSeconds == fixture.runtime.settings.jobDeadlineSeconds)
    }

    @Test func theServersJobsSettingBoundsItsJobs() async throws {
        for (jobs, completes) in [(1, false), (2, true)] {
            let fixture = try APIServerTests().fixture()
            let manifestPath = fixture.directory.sub("rendezvous.json")
            try FileTree.writeAtomically(try JSONCoding.encoder().encode(try self.rendezvousManifest(fixture, waitingAction: "collect", patience: completes ? 300 : 20)), to: manifestPath)
            let server = try await APIServer.start(fixture) {
                $0.manifest = manifestPath
                $0.jobs = jobs
            }
            defer { Task { await server.stop() } }
            #expect(try await server.call("POST", "\(APIServerTests.base)/backup", body: #"{"hostname":"localhost","security_pwd":"s"}"#).status == 204)
            let backup = try await server.waitForJob("\(APIServerTests.base)/backup")
            if completes {
                #expect(backup["status"] as? String == "COMPLETED", "jobs \(jobs): \(backup)")
            } else {
                #expect(backup["status"] as? String == "ERROR" && (backup["message"] as? String ?? "").contains("ran alone"), "jobs \(jobs): \(backup)")
            }
        }
    }

    @Test func jobsOutsideItsRangeAreRefusedOnTheCommandLine() async throws {
        for command in ["backup", "verify"] {
            for value in ["0", "65", "-1", "many"] {
                let result = try await CommandLineTests().gwbackup([command, "--path", "/tmp/none", "--jobs", value])
                #expect(result.status == 64, "\(command) \(value): \(result.stderr)")
                #expect(result.stderr.contains("jobs"), "\(result.stderr)")
            }
        }
        for value in ["-1", "20", "low"] {
            let result = try await CommandLineTests().gwbackup(["restore", "--path", "/tmp/none", "--nice", value])
            #expect(result.status == 64, "\(value): \(result.stderr)")
            #expect(result.stderr.contains("nice"), "\(result.stderr)")
        }
        for option in [["--jobs", "2"], ["--nice", "5"]] {
            let remote = try await CommandLineTests().gwbackup(["--server", "https://127.0.0.1:1", "--api-user", "u", "restore"] + option)
            #expect(remote.status == 64 && remote.stderr.contains("--jobs and --nice are the server's settings"), "\(remote.stderr)")
        }
    }
}

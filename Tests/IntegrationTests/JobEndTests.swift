import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// The end of a job as the next one sees it: a final record means the job let go of everything, and
/// a job started the moment a client saw that record is not told one is still running.
@Suite("A job's end")
struct JobEndTests {
    /// A cipher whose `releaseResources` (the job's last clean-up, stopping its gpg-agent) holds
    /// until the test lets it go.
    final class HeldReleaseCipher: PayloadCipher, @unchecked Sendable {
        let inner: any PayloadCipher
        private let condition = NSCondition()
        private let patience: Double
        private var entered = false
        private var letGo = false
        private var gaveUp = false

        /// `patience`: how long the clean-up holds at most, so that a broken test cannot hang the suite.
        init(_ inner: any PayloadCipher, patience: Double = 600) {
            self.inner = inner
            self.patience = patience
        }

        /// True when the clean-up went on because its patience ran out, not because the test let it go.
        var gaveUpWaiting: Bool { self.condition.withLock { self.gaveUp } }

        func encrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            try self.inner.encrypt(from: source, to: sink, passphrase: passphrase)
        }

        func decrypt(from source: any ByteSource, to sink: any ByteSink, passphrase: Secret) throws {
            try self.inner.decrypt(from: source, to: sink, passphrase: passphrase)
        }

        func removeAbandonedResources() { self.inner.removeAbandonedResources() }

        func releaseResources() {
            self.condition.withLock {
                self.entered = true
                self.condition.broadcast()
                let deadline = Date().addingTimeInterval(self.patience)
                while !self.letGo, self.condition.wait(until: deadline) {}
                self.gaveUp = !self.letGo
            }
            self.inner.releaseResources()
        }

        /// Waits up to `seconds` for the job to reach its clean-up (polling: a test must not hold
        /// one of the few threads the job itself runs on).
        func waitUntilReleasing(seconds: Double) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(seconds)
            while ContinuousClock.now < deadline {
                if self.condition.withLock({ self.entered }) { return true }
                try await Task.sleep(for: .milliseconds(20))
            }
            return false
        }

        func release() {
            self.condition.withLock {
                self.letGo = true
                self.condition.broadcast()
            }
        }
    }

    func staging(_ fixture: Fixture) -> [String] {
        (try? FileTree.names(in: fixture.state + "/staging")) ?? []
    }

    /// Starts a backup or restore (`kind`) to `path` (the fixture's backups by default) whose last
    /// clean-up holds until the test lets the returned cipher go.
    func startHeld(_ fixture: Fixture, _ kind: String, path: String? = nil, patience: Double = 600) throws -> (job: Task<JobRecord, any Error>, cipher: HeldReleaseCipher) {
        var orchestrator = fixture.runtime.orchestrator()
        let cipher = HeldReleaseCipher(orchestrator.cipher, patience: patience)
        orchestrator.cipher = cipher
        let configured = orchestrator
        let manifest = try fixture.manifest()
        let target = StorageTarget(host: "localhost", username: "mazu", path: path ?? fixture.backups)
        let store = LocalBackupStore(path: target.path)
        let backup = BackupRequest(target: target, store: store, manifest: manifest, securityPassword: fixture.password)
        let restore = RestoreRequest(target: target, store: store, manifest: manifest, securityPassword: fixture.password)
        return (Task { kind == "backup" ? try await configured.backup(backup) : try await configured.restore(restore) }, cipher)
    }

    /// The record a client reads now for `kind`.
    func shown(_ fixture: Fixture, _ kind: String) throws -> JobRecord {
        let status = StatusStore(directory: fixture.state)
        return kind == "backup" ? try status.backupStatus().running : try status.restoreStatus()
    }

    @Test func aFinalRecordIsWrittenOnlyOnceTheJobLetGoOfEverything() async throws {
        let fixture = try Fixture("job-end")
        for kind in ["backup", "restore"] {
            let (job, cipher) = try self.startHeld(fixture, kind)
            let reached = try await cipher.waitUntilReleasing(seconds: 300)
            guard reached else {
                cipher.release()
                Issue.record("the \(kind) never reached its clean-up")
                return
            }
            // The job is past its work and its staging is gone, but it still holds its gpg-agent:
            // what a client reads now must not call it finished, since the lock is still held.
            let shown = try self.shown(fixture, kind)
            #expect(shown.status == .executing, "\(kind): \(shown.status) published while the job still held its resources")
            #expect(JobLock.isHeld(stateDirectory: fixture.state))
            #expect(self.staging(fixture).isEmpty, "\(self.staging(fixture))")
            cipher.release()
            let record = try await job.value
            #expect(record.status == .completed, "\(record.message)")
            let written = try self.shown(fixture, kind)
            #expect(written.status == .completed && written.id == record.id)
            if kind == "backup" {
                #expect(try StatusStore(directory: fixture.state).backupStatus().lastSuccessful?.id == record.id)
            }
            #expect(!JobLock.isHeld(stateDirectory: fixture.state))
        }
    }

    @Test func aFailedJobIsAlsoWrittenLastWithItsError() async throws {
        let fixture = try Fixture("job-end-failed")
        // A destination that is a file: the backup cannot begin, and the restore finds no backup.
        let file = try fixture.directory.write("not-a-directory", "x")
        for kind in ["backup", "restore"] {
            let (job, cipher) = try self.startHeld(fixture, kind, path: file)
            #expect(try await cipher.waitUntilReleasing(seconds: 300))
            #expect(try self.shown(fixture, kind).status == .executing, "\(kind)")
            cipher.release()
            let record = try await job.value
            #expect(record.status == .error, "\(kind): \(record.message)")
            #expect(try self.shown(fixture, kind).message == record.message)
            #expect(!JobLock.isHeld(stateDirectory: fixture.state))
        }
        #expect(try StatusStore(directory: fixture.state).backupStatus().lastSuccessful == nil)
    }

    @Test func jobsStoppingTheirAgentsDoNotHoldTheThreadsEverythingElseRunsOn() async throws {
        // One more than the cooperative pool has threads: were the clean-up (waiting for gpgconf)
        // run on the pool, the held jobs would take every thread and the last job, and this test's
        // own polling, would never run.
        let count = ProcessInfo.processInfo.activeProcessorCount + 1
        var started: [(fixture: Fixture, job: Task<JobRecord, any Error>, cipher: HeldReleaseCipher)] = []
        for index in 0..<count {
            let fixture = try Fixture("job-end-pool-\(index)")
            // Held 120 s at most: held on the pool, the jobs would only go on once that ran out.
            let (job, cipher) = try self.startHeld(fixture, "backup", patience: 120)
            started.append((fixture, job, cipher))
        }
        for (index, held) in started.enumerated() {
            #expect(try await held.cipher.waitUntilReleasing(seconds: 300), "job \(index) of \(count) never reached its clean-up")
        }
        for held in started { held.cipher.release() }
        for (index, held) in started.enumerated() {
            let record = try await held.job.value
            #expect(record.status == .completed, "\(record.message)")
            #expect(!held.cipher.gaveUpWaiting, "job \(index) of \(count) held its thread until its patience ran out: this test could not run meanwhile")
        }
    }

    /// Starts a backup on a thread of its own (taking the lock may wait) and returns its outcome.
    func beginBackup(_ fixture: Fixture, grace: Double? = nil) -> Task<Result<BackupJob, BackupError>, Never> {
        var orchestrator = fixture.runtime.orchestrator()
        if let grace { orchestrator.finishingJobGraceSeconds = grace }
        let request = BackupRequest(target: fixture.target, store: fixture.store, manifest: (try? fixture.manifest())!, securityPassword: fixture.password)
        return Task.detached {
            do { return .success(try await orchestrator.beginBackup(request)) } catch let error as BackupError {
                return .failure(error)
            } catch {
                return .failure(BackupError(.system, "\(error)"))
            }
        }
    }

    func waitForLine(_ fixture: Fixture, containing text: String, seconds: Double) async throws -> Bool {
        let deadline = ContinuousClock.now + .seconds(seconds)
        while ContinuousClock.now < deadline {
            if fixture.logLines.all.contains(where: { $0.contains(text) }) { return true }
            try await Task.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func aNewJobWaitsForAFinishedJobToLetGoOfTheLockButNotForOneThatRuns() async throws {
        let fixture = try Fixture("job-end-lock")
        let finished = try await fixture.backup()
        #expect(finished.status == .completed)
        let waiting = "held by a job that has finished: waiting"

        // A backup whose record is final but that still holds the lock: the next one waits for it.
        var holder: JobLock? = try JobLock.acquire(stateDirectory: fixture.state, description: "backup to local \(fixture.backups)")
        // A long grace here: in a loaded test run this test may not get to release the lock for a
        // while after the waiting began.
        let next = self.beginBackup(fixture, grace: 300)
        #expect(try await self.waitForLine(fixture, containing: waiting, seconds: 300), "the next job did not wait")
        holder?.release()
        holder = nil
        let started = try (await next.value).get()
        #expect(JobLock.isHeld(stateDirectory: fixture.state), "the started job holds the lock")
        // Stopped before its first step, it ends at once and lets go of the lock.
        started.cancellation.cancel(reason: "test")
        #expect(await started.run().status == .error)
        #expect(!JobLock.isHeld(stateDirectory: fixture.state))

        // A job that runs (its record EXECUTING), or a holder that is not a backup or restore (a
        // prune), is no reason to wait: busy, and no waiting said.
        let lines = fixture.logLines.all.filter { $0.contains(waiting) }.count
        var status = try StatusStore(directory: fixture.state).backupStatus()
        status.running = JobRecord(host: "localhost", username: "mazu", path: fixture.backups, timeStamp: 1, status: .executing, id: "running")
        try StatusStore(directory: fixture.state).save(status)
        for description in ["backup to local \(fixture.backups)", "prune of local \(fixture.backups)"] {
            if description.hasPrefix("prune") {
                status.running.status = .completed
                try StatusStore(directory: fixture.state).save(status)
            }
            let lock = try JobLock.acquire(stateDirectory: fixture.state, description: description)
            let refused = await self.beginBackup(fixture).value
            guard case .failure(let error) = refused else {
                Issue.record("\(description): a second job started while the lock was held")
                continue
            }
            #expect(error.code == .busy && error.message.contains(description), "\(error)")
            lock.release()
        }
        #expect(fixture.logLines.all.filter { $0.contains(waiting) }.count == lines)
    }
}

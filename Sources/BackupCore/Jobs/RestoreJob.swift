import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// A restore that holds the job lock. `run()` picks the backup, decrypts and verifies every selected
/// component into staging, and only then changes the appliance; if a restorer fails, every component
/// already restored is put back as it was.
public struct RestoreJob: Sendable {
    let orchestrator: Orchestrator
    let request: RestoreRequest
    let lock: JobLock
    /// The job's id, as its record and its log lines carry it.
    public let id: String

    /// Fire it to stop the job (see `JobCancellation`); applied components are rolled back.
    public var cancellation: JobCancellation { self.orchestrator.cancellation }

    /// A component chosen for restore, with its plugin and staging directories.
    struct Selected {
        var position: Int
        var record: SealedIndex.Component
        var component: ManifestComponent
        var plugin: any ComponentPlugin
        var data: String = ""
        var rollback: String = ""
    }

    /// A component decrypted, unpacked and verified in staging; for a dry run, with what a restore
    /// would change.
    struct UnpackedComponent: Sendable {
        var bytes: UInt64
        var report: PluginReport
        var changes: ComponentChanges?
    }

    /// Runs the restore to its end and returns the final record. Never throws. Releases the job lock.
    public func run() async -> JobRecord {
        // Everything the job starts runs at its lower priority (see `Blocking.niceness`).
        await Blocking.$niceness.withValue(self.orchestrator.jobNiceness) { await self.runAtJobPriority() }
    }

    private func runAtJobPriority() async -> JobRecord {
        defer { self.lock.release() }
        let record = await self.perform()
        // Stopping the gpg-agent waits for a process: on a thread of its own, not the pool's.
        let cipher = self.orchestrator.cipher
        _ = try? await Blocking.run { cipher.releaseResources() }
        // The final record is written last, once the job let go of everything it held (staging, the
        // gpg-agent), and only the lock is released after it: a client that sees COMPLETED or ERROR
        // can start the next job at once, rather than being told one is still running. A dry run
        // restored nothing: it is no restore in the status or the metrics (issue 24), only its
        // preview's record.
        self.save(record)
        return record
    }

    /// Saves the record where its kind belongs: a restore's in the restore status; a preview's
    /// (`restore --dry-run`, `POST …/restore/preview`) in the preview status, never counted as a
    /// restore; a `diff` with the appliance (a preview seen the other way) nowhere.
    private func save(_ record: JobRecord) {
        let status = self.orchestrator.status
        do {
            if !self.request.dryRun {
                try status.saveRestore(record)
            } else if !self.request.previewSinceBackup {
                try status.savePreview(record)
            }
        } catch {
            self.orchestrator.logger.error("cannot save restore status", metadata: ["job_id": "\(self.id)", "error": "\(error)"])
        }
    }

    /// The restore itself; returns the final record to publish. Its staging and deadline are let
    /// go when it returns; `run()` then stops the gpg-agent.
    private func perform() async -> JobRecord {
        let deadline = self.orchestrator.startDeadline()
        defer { deadline.cancel() }
        // A stop (the deadline, a shutdown) also ends a read the store is stalling.
        let interruptible = self.request.store
        self.cancellation.onCancel { reason in interruptible.interrupt(reason: reason) }
        var logger = self.orchestrator.logger
        if let note = await self.orchestrator.recoverAfterInterruption(logger: logger) {
            logger.notice("recovered before this restore", metadata: ["recovery": "\(note)"])
        }
        var record = JobRecord(
            host: self.request.target.host, username: self.request.target.username, path: self.request.target.path,
            timeStamp: Orchestrator.now(), status: .executing, id: self.id, runID: self.request.runID)
        logger[metadataKey: "job"] = "restore"
        logger[metadataKey: "job_id"] = "\(self.id)"
        func save() { self.save(record) }
        save()
        let staging: StagingArea
        do {
            staging = try StagingArea(base: self.orchestrator.stagingBase, kind: "restore")
        } catch {
            return self.finish(&record, error: BackupError.wrap(error), logger: logger)
        }
        var keepStaging = false
        defer { if !keepStaging { staging.remove() } }

        // 1. Choose the backup from the authenticated catalog, check its plain manifest against it,
        // and choose the components.
        let store = self.request.store
        let chosen: AuthenticatedBackup
        var notes: [String] = []
        var selected: [Selected]
        do {
            chosen = try await self.chooseBackup(notes: &notes, logger: logger)
            record.backup = chosen.name
            record.path = store.location(of: chosen.name)
            record.subdir = record.path
            logger[metadataKey: "backup"] = "\(SafeText.escaped(chosen.name))"
            selected = try self.select(from: chosen.index, record: &record, notes: &notes)
        } catch {
            let failure = self.cancellation.error ?? BackupError.wrap(error)
            return self.finish(&record, error: failure, notes: notes + ["the appliance was not changed"], logger: logger)
        }
        save()
        logger.info("restore started", metadata: ["store": "\(SafeText.field(store.displayName))", "components": "\(selected.map(\.component.name))"])

        // 2. Decrypt, verify and unpack every selected component before touching the appliance,
        // several at once (each its own key derivation, gpg, zstd and extractor), at most `width`;
        // each task then saves its component's current state (3). The first failure starts no more;
        // those under way finish before the job reports it.
        let total = selected.count
        for index in selected.indices {
            do {
                selected[index].data = try staging.makeDirectory(selected[index].component.name + "/data")
                selected[index].rollback = try staging.makeDirectory(selected[index].component.name + "/rollback")
            } catch {
                return self.finish(&record, error: BackupError.wrap(error), notes: notes + ["the appliance was not changed"], logger: logger)
            }
        }
        let width = ComponentTasks.width(self.request.jobs, count: total)
        var reports: [Int: PluginReport] = [:]
        var failure: BackupError?
        let backupName = chosen.name
        let items = selected
        // The largest first (the authenticated index gives the sizes); applied in order all the same.
        let order = ComponentTasks.largestFirst(items.map(\.record.size))
        await ComponentTasks.run(
            count: total, width: width, order: order,
            mayStart: { failure == nil && self.cancellation.error == nil },
            started: { index in
                record.components[items[index].position].status = .running
                save()
            },
            work: { index, finishedBefore -> Result<UnpackedComponent, BackupError> in
                let item = items[index]
                let bytes: UInt64
                let report: PluginReport
                var staged: TreeInventory?
                do {
                    bytes = try await self.unpack(item, backup: backupName, into: item.data, finishedBefore: finishedBefore, total: total)
                    // A preview compares the backup as it was unpacked: a plugin's verify may leave
                    // files of its own in staging (sqlite's -wal and -shm beside a database it opened).
                    if self.request.dryRun {
                        let data = item.data
                        staged = try await Blocking.run("gwbackup.preview") { try TreeInventory(data, ignoring: TreeComparison.isPluginRecord) }
                    }
                    report = try await item.plugin.verify(self.orchestrator.context(for: item.component, staging: item.data))
                } catch {
                    return .failure(BackupError.wrap(error, component: item.component.name))
                }
                // 3. Save the component's current state for a rollback, while the others still
                // decrypt: nothing changes before every task has finished, so the copy a rollback
                // returns to is still the appliance as it was before the restore. A dry run collects
                // it too, to compare it with the backup: the preview is the difference.
                if let staged {
                    do {
                        let changes = try await self.preview(item, backup: staged, backupCounts: report.counts)
                        return .success(UnpackedComponent(bytes: bytes, report: report, changes: changes))
                    } catch {
                        let failure = BackupError.wrap(error, component: item.component.name)
                        return .failure(BackupError(failure.code, "could not read the current state to compare: \(failure.message)", component: item.component.name))
                    }
                }
                do {
                    _ = try await item.plugin.collect(self.orchestrator.context(for: item.component, staging: item.rollback, rollback: true))
                } catch {
                    let failure = BackupError.wrap(error, component: item.component.name)
                    return .failure(BackupError(failure.code, "could not save the current state: \(failure.message)", component: item.component.name))
                }
                return .success(UnpackedComponent(bytes: bytes, report: report))
            },
            finished: { index, result in
                let item = items[index]
                switch result {
                case .success(let unpacked):
                    reports[index] = unpacked.report
                    record.components[item.position].bytes = unpacked.bytes
                    record.components[item.position].message = unpacked.report.warnings.joined(separator: "; ")
                    record.components[item.position].status = .pending
                    record.components[item.position].changes = unpacked.changes
                case .failure(let error):
                    record.components[item.position].status = .failed
                    record.components[item.position].message = error.message
                    if failure == nil { failure = error }
                }
                save()
            })
        if let interrupted = self.cancellation.error {
            return self.finish(&record, error: interrupted, notes: notes + ["the appliance was not changed"], logger: logger)
        }
        if let failure {
            return self.finish(&record, error: failure, notes: notes + ["the appliance was not changed"], logger: logger)
        }
        for (index, item) in selected.enumerated() {
            notes += (reports[index]?.warnings ?? []).map { "\(item.component.name): \($0)" }
        }
        if self.request.dryRun {
            var changing = 0
            for item in selected {
                record.components[item.position].status = .ok
                if let changes = record.components[item.position].changes {
                    if !changes.isEmpty { changing += 1 }
                    record.components[item.position].message = ([changes.summary] + [record.components[item.position].message].filter { !$0.isEmpty }).joined(separator: "; ")
                }
            }
            notes.insert("dry run: \(selected.count) component(s) decrypted and verified, \(changing) would change; nothing was restored", at: 0)
            return self.finish(&record, error: nil, notes: notes, logger: logger)
        }

        // The copies, then the journal naming them, are durable before the first change: from here
        // on, a restore that dies is rolled back by whoever starts next.
        let stateDirectory = self.orchestrator.status.directory
        var journal = RestoreJournal(
            jobID: self.id, backup: chosen.name, staging: staging.path,
            entries: selected.map { RestoreJournal.Entry(component: $0.component, rollback: $0.rollback, applied: false) })
        do {
            // One syncfs for the copies and the staged data (an fsync per file cost seconds).
            try FileTree.syncFileSystem(of: staging.path)
            try journal.write(to: stateDirectory)
        } catch {
            return self.finish(&record, error: BackupError.wrap(error, as: .storage), notes: notes + ["the appliance was not changed"], logger: logger)
        }
        // The journal closes after the last component or after a rollback; a journal left open (a
        // rollback that could not finish) is the next start's to finish.
        func closeJournal() {
            do { try RestoreJournal.close(in: stateDirectory) } catch {
                logger.critical("cannot close the restore journal", metadata: ["error": "\(error)"])
            }
        }

        // 4. Apply, in the manifest's order.
        var applied: [Selected] = []
        for (index, item) in selected.enumerated() {
            if let interrupted = self.cancellation.error {
                let rollbackNotes = await self.rollBack(applied, record: &record, staging: staging, keep: &keepStaging, logger: logger)
                closeJournal()
                return self.finish(&record, error: interrupted, notes: notes + rollbackNotes, logger: logger)
            }
            self.orchestrator.onProgress(JobProgress(job: "restore", phase: "applying", component: item.component.name, completedComponents: index, totalComponents: total, bytes: 0))
            record.components[item.position].status = .running
            save()
            applied.append(item)
            do {
                let report = try await item.plugin.restore(self.orchestrator.context(for: item.component, staging: item.data))
                // Durable before the journal calls it applied (syncfs: whatever the plugin wrote).
                try FileTree.syncFileSystem(of: self.orchestrator.applianceRoot)
                journal.entries[index].applied = true
                try journal.write(to: stateDirectory)
                record.components[item.position].status = report.warnings.isEmpty ? .ok : .warning
                record.components[item.position].message = ([report.message] + report.warnings).filter { !$0.isEmpty }.joined(separator: "; ")
                notes += report.warnings.map { "\(item.component.name): \($0)" }
            } catch {
                let failure = BackupError.wrap(error, as: .pluginFailed, component: item.component.name)
                record.components[item.position].status = .failed
                record.components[item.position].message = failure.message
                let rollbackNotes = await self.rollBack(applied, record: &record, staging: staging, keep: &keepStaging, logger: logger)
                closeJournal()
                return self.finish(&record, error: failure, notes: notes + rollbackNotes, logger: logger)
            }
            record.progress = .init(completedComponents: index + 1, totalComponents: total, bytes: 0)
            save()
        }
        closeJournal()
        return self.finish(&record, error: nil, notes: notes, logger: logger)
    }

    /// The backup to restore (`BackupSelection`), with notes on what did not count and on another
    /// appliance's backup taken for replacement hardware.
    private func chooseBackup(notes: inout [String], logger: Logger) async throws -> AuthenticatedBackup {
        let stateDirectory = self.orchestrator.status.directory
        let identity = try ApplianceIdentity.loadOrCreate(stateDirectory: stateDirectory)
        // An appliance that has made backups is not replacement hardware.
        let hasBackedUp = (try? self.orchestrator.status.backupStatus())?.lastSuccessful != nil
        let selection = BackupSelection(store: self.request.store, cipher: self.orchestrator.cipher, passphrase: self.request.securityPassword, stateDirectory: stateDirectory)
        let outcome = try await selection.choose(
            name: self.request.backup, appliance: self.request.appliance, own: identity.id, ownHasBackedUp: hasBackedUp,
            allowUnauthenticated: self.request.allowUnauthenticated)
        let name = SafeText.escaped(outcome.backup.name)
        if !outcome.backup.isAuthenticated {
            notes.append("backup \(name) has no authenticated index and was restored as its plain manifest describes it (--allow-unauthenticated)")
            logger.warning("restoring an unauthenticated backup", metadata: ["backup": "\(name)"])
        }
        if let note = outcome.note {
            notes.append(note)
            logger.notice("restoring another appliance's backup", metadata: ["note": "\(note)"])
        }
        notes += [outcome.catalog.unverifiedNote, outcome.catalog.ignoredNote].compactMap { $0 }
        return outcome.backup
    }

    /// The components to restore, in the order of the appliance's manifest; fills `record.components`
    /// and notes skips. The manifest, not the backup, names the plugin and its parameters.
    private func select(from index: SealedIndex, record: inout JobRecord, notes: inout [String]) throws -> [Selected] {
        let manifest = self.request.manifest
        let restorable = Set(manifest.components.map(\.name)).intersection(index.components.map(\.name))
        let unknown = self.request.components.filter { !restorable.contains($0) }
        if !unknown.isEmpty {
            throw BackupError(
                .invalidInput,
                "cannot restore \(unknown.map { SafeText.escaped($0, limit: 80) }.joined(separator: ", ")): both the backup and this appliance's manifest must have it (they share: \(restorable.sorted().joined(separator: ", ")))")
        }
        var selected: [Selected] = []
        var skippedCert: [String] = []
        for component in manifest.components {
            let position = record.components.count
            guard let stored = index.component(named: component.name) else {
                record.components.append(ComponentResult(name: component.name, status: .skipped, message: "not in this backup"))
                notes.append("\(component.name) is not in this backup and was left as it is")
                continue
            }
            if !self.request.components.isEmpty && !self.request.components.contains(component.name) {
                record.components.append(ComponentResult(name: component.name, status: .skipped, message: "not selected"))
                continue
            }
            if self.request.noCert && component.isCertificateBound {
                record.components.append(ComponentResult(name: component.name, status: .skipped, message: "no_cert: certificate-bound component not restored"))
                skippedCert.append(component.name)
                continue
            }
            if stored.outcome != "ok" {
                record.components.append(ComponentResult(name: component.name, status: .skipped, message: "not in this backup: it failed at backup time"))
                notes.append("\(component.name) is not in this backup (it failed at backup time) and was not restored")
                continue
            }
            guard stored.plugin == component.plugin else {
                throw BackupError(
                    .invalidInput,
                    "component \(component.name) was backed up by plugin '\(SafeText.escaped(stored.plugin, limit: 80))' but this appliance's manifest restores it with '\(component.plugin)': one plugin's data is never handed to another",
                    component: component.name)
            }
            guard let plugin = self.orchestrator.registry.plugin(id: component.plugin) else {
                throw BackupError(.pluginFailed, "component \(component.name) needs plugin '\(component.plugin)', which is not installed")
            }
            record.components.append(ComponentResult(name: component.name, status: .pending))
            selected.append(Selected(position: position, record: stored, component: component, plugin: plugin))
        }
        // What the backup holds and this appliance does not describe is reported, never restored.
        for stored in index.components where manifest.component(named: stored.name) == nil {
            record.components.append(ComponentResult(name: stored.name, status: .skipped, message: "not in this appliance's manifest: not restored"))
            notes.append("\(stored.name) is in the backup but not in this appliance's manifest, and was not restored")
        }
        if !skippedCert.isEmpty { notes.append("no_cert: skipped \(skippedCert.joined(separator: ", "))") }
        if selected.isEmpty { throw BackupError(.invalidInput, "nothing to restore: every component was skipped") }
        record.progress = .init(completedComponents: 0, totalComponents: selected.count, bytes: 0)
        return selected
    }

    /// Decrypts one component straight into the archive extractor, inside staging. Returns bytes read.
    private func unpack(_ item: Selected, backup: String, into directory: String, finishedBefore: Int, total: Int) async throws -> UInt64 {
        self.orchestrator.onProgress(JobProgress(job: "restore", phase: "decrypting", component: item.record.name, completedComponents: finishedBefore, totalComponents: total, bytes: 0))
        return try await self.orchestrator.unpacker(store: self.request.store, passphrase: self.request.securityPassword)
            .unpack(item.record, backup: backup, into: directory)
    }

    /// What restoring `item` would change: the appliance's current state, collected as a rollback
    /// would save it, compared with the backup's staged tree (plugin records left out); or, with
    /// `previewSinceBackup`, what changed on the appliance since the backup.
    private func preview(_ item: Selected, backup: TreeInventory, backupCounts: [String: Int64]) async throws -> ComponentChanges {
        _ = try await item.plugin.collect(self.orchestrator.context(for: item.component, staging: item.rollback))
        let collected = item.rollback
        let current = try await Blocking.run("gwbackup.preview") { try TreeInventory(collected, ignoring: TreeComparison.isPluginRecord) }
        // The plugin's counts of the current state (rows per table), from its verify of the copy just
        // collected, after the inventory (verify may leave files of its own). A current state that
        // fails its verify still gets its file comparison; its counts then read "none".
        var currentCounts: [String: Int64] = [:]
        if item.plugin.offersVerify, !backupCounts.isEmpty {
            currentCounts = (try? await item.plugin.verify(self.orchestrator.context(for: item.component, staging: item.rollback)))?.counts ?? [:]
        }
        var changes: ComponentChanges
        if self.request.previewSinceBackup {
            changes = TreeComparison.changes(from: backup, to: current)
            changes.compareCounts(from: backupCounts, to: currentCounts)
        } else {
            changes = TreeComparison.changes(from: current, to: backup)
            changes.compareCounts(from: currentCounts, to: backupCounts)
        }
        return changes
    }

    /// Puts back every applied component, newest first. Returns notes for the message.
    private func rollBack(_ applied: [Selected], record: inout JobRecord, staging: StagingArea, keep: inout Bool, logger: Logger) async -> [String] {
        if applied.isEmpty { return ["the appliance was not changed"] }
        var notes: [String] = []
        var failed: [String] = []
        // Newest first; a component that cannot be put back yet (a later one's change stands in its
        // way, e.g. a directory it lies in) is tried again once the others are back.
        var pending = Array(applied.reversed())
        for pass in 1...2 {
            var retry: [Selected] = []
            for item in pending {
                do {
                    _ = try await item.plugin.restore(self.orchestrator.context(for: item.component, staging: item.rollback, rollback: true))
                    if record.components[item.position].status != .failed {
                        record.components[item.position].status = .rolledBack
                    }
                } catch {
                    if pass == 1 {
                        retry.append(item)
                        continue
                    }
                    failed.append("\(item.component.name) (\(BackupError.wrap(error).message))")
                    logger.critical("rollback failed", metadata: ["component": "\(item.component.name)", "error": "\(error)"])
                }
            }
            pending = retry
            if pending.isEmpty { break }
        }
        // Durable before the journal closes: the rollback's changes are renames not yet synced.
        do { try FileTree.syncFileSystem(of: self.orchestrator.applianceRoot) } catch {
            failed.append("the rolled-back files could not be synced to disk (\(BackupError.wrap(error).message))")
        }
        if failed.isEmpty {
            notes.append("the appliance was rolled back to its state before the restore")
        } else {
            // Keep the pre-restore copies where the next job's clean-up will not remove them.
            keep = true
            let kept = self.orchestrator.status.directory + "/kept-" + (staging.path as NSString).lastPathComponent
            let location = (try? FileTree.rename(staging.path, to: kept)) != nil ? kept : staging.path
            notes.append("ROLLBACK FAILED for \(failed.joined(separator: ", ")); the pre-restore copies are kept in \(location)")
        }
        return notes
    }

    /// The final record (published by `run()` once the job let go of everything).
    private func finish(_ record: inout JobRecord, error: BackupError?, notes: [String] = [], logger: Logger) -> JobRecord {
        record.finished = Orchestrator.now()
        if let error {
            record.status = .error
            record.message = (["restore failed: \(error.description)"] + notes).joined(separator: "; ")
            logger.error("restore failed", metadata: ["error": "\(error.description)"])
        } else {
            record.status = .completed
            record.message = notes.joined(separator: "; ")
            logger.info("restore completed")
        }
        return record
    }
}

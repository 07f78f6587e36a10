import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// A backup that holds the job lock. `run()` collects, archives, encrypts and stores every component,
/// then commits the backup atomically; it records each step in the status store.
public struct BackupJob: Sendable {
    let orchestrator: Orchestrator
    let request: BackupRequest
    let lock: JobLock
    /// The job's id, as its record and its log lines carry it.
    public let id: String

    /// Fire it to stop the job (see `JobCancellation`).
    public var cancellation: JobCancellation { self.orchestrator.cancellation }

    /// Runs the backup to its end and returns the final record (`COMPLETED` or `ERROR`). Never throws:
    /// every failure is in the record. Releases the job lock.
    public func run() async -> JobRecord {
        // Everything the job starts runs at its lower priority (see `Blocking.niceness`).
        await Blocking.$niceness.withValue(self.orchestrator.jobNiceness) { await self.runAtJobPriority() }
    }

    private func runAtJobPriority() async -> JobRecord {
        defer { self.lock.release() }
        let final = await self.perform()
        // Stopping the gpg-agent waits for a process: on a thread of its own, not the pool's.
        let cipher = self.orchestrator.cipher
        _ = try? await Blocking.run { cipher.releaseResources() }
        // The final record is written last, once the job let go of everything it held (staging, the
        // gpg-agent), and only the lock is released after it: a client that sees COMPLETED or ERROR
        // can start the next job at once, rather than being told one is still running.
        do { try self.orchestrator.status.save(final) } catch {
            self.orchestrator.logger.error("cannot save backup status", metadata: ["job_id": "\(self.id)", "error": "\(error)"])
        }
        return final.running
    }

    /// The backup itself; returns the status to publish, its `running` the final record. Its staging
    /// and deadline are let go when it returns; `run()` then stops the gpg-agent.
    private func perform() async -> BackupStatus {
        let deadline = self.orchestrator.startDeadline()
        defer { deadline.cancel() }
        // A stop (the deadline, a shutdown) also ends a write or read the store is stalling.
        let interruptible = self.request.store
        self.cancellation.onCancel { reason in interruptible.interrupt(reason: reason) }
        if let note = await self.orchestrator.recoverAfterInterruption(logger: self.orchestrator.logger) {
            self.orchestrator.logger.notice("recovered before this backup", metadata: ["recovery": "\(note)"])
        }
        let manifest = self.request.manifest
        let started = Orchestrator.now()
        var status = (try? self.orchestrator.status.backupStatus()) ?? BackupStatus()
        var record = JobRecord(
            host: self.request.target.host, username: self.request.target.username, path: self.request.target.path,
            timeStamp: started, status: .executing, id: self.id,
            components: manifest.components.map { ComponentResult(name: $0.name, status: .pending) },
            progress: .init(completedComponents: 0, totalComponents: manifest.components.count, bytes: 0), runID: self.request.runID)
        var logger = self.orchestrator.logger
        logger[metadataKey: "job"] = "backup"
        logger[metadataKey: "job_id"] = "\(self.id)"
        func save() {
            status.running = record
            do { try self.orchestrator.status.save(status) } catch {
                logger.error("cannot save backup status", metadata: ["error": "\(error)"])
            }
        }
        save()

        let baseName = Self.backupName(appliance: manifest.appliance, date: Date(timeIntervalSince1970: TimeInterval(started)))
        logger.info("backup started", metadata: ["store": "\(SafeText.field(self.request.store.displayName))"])

        var startedStaging: StagingArea?
        let writer: any BackupWriter
        let name: String
        let stateDirectory = self.orchestrator.status.directory
        do {
            startedStaging = try StagingArea(base: self.orchestrator.stagingBase, kind: "backup")
            let store = self.request.store
            // What a killed backup to this destination left is ours to remove; only that.
            if let pending = PendingBackup.read(in: stateDirectory), pending.store == store.displayName {
                do {
                    try await Blocking.run { try store.removeTemporary(name: pending.name) }
                    PendingBackup.clear(in: stateDirectory)
                } catch {
                    logger.warning("cannot remove what an interrupted backup left", metadata: ["partial": "\(pending.name)", "error": "\(error)"])
                }
            }
            (name, writer) = try await Blocking.run { () -> (String, any BackupWriter) in
                // Two backups in one second get -1, -2, …: names stay unique and still sort by time.
                // The listing is also where a store that cannot be reached fails: before any trace is
                // written (a destination that does not exist yet lists as empty).
                let entries: [StoredEntry]
                do { entries = try store.listEntries() } catch let error as BackupError where error.code == .notFound { entries = [] }
                let taken = Set(entries.map(\.name))
                var name = baseName
                var suffix = 1
                while taken.contains(name) {
                    name = "\(baseName)-\(suffix)"
                    suffix += 1
                }
                // Recorded before the temporary directory exists, so a kill at any moment leaves a trace.
                try PendingBackup(store: store.displayName, name: name).write(to: stateDirectory)
                return (name, try store.beginBackup(name: name))
            }
            record.backup = name
            logger[metadataKey: "backup"] = "\(name)"
        } catch {
            // Nothing of this job stays behind a failed start (an unreachable store): not its staging.
            startedStaging?.remove()
            return self.fail(&record, status: status, error: BackupError.wrap(error, as: .storage), logger: logger)
        }
        guard let staging = startedStaging else { return self.fail(&record, status: status, error: BackupError(.system, "no staging area"), logger: logger) }
        // The trace goes once the backup is committed; after a failure it stays, and the next backup
        // to this destination removes whatever the abort could not (a dropped connection).
        var committed = false
        defer {
            staging.remove()
            if committed { PendingBackup.clear(in: stateDirectory) }
        }

        // Several components at once (each its own plugin run, archive, zstd and gpg: the key
        // derivations alone are ~0.15 s each), started in manifest order, at most `width` at a time.
        // The first failure of a required component starts no more; those under way finish first.
        let components = manifest.components
        let width = ComponentTasks.width(self.request.jobs, count: components.count)
        var outcomes: [Int: Result<BackupIndex.Component, BackupError>] = [:]
        var fatal: BackupError?
        var totalBytes: UInt64 = 0
        var completed = 0
        let componentLogger = logger
        let compression = self.orchestrator.compression?.sharing(among: width)
        // The largest first, as the last successful backup measured them (a new component, or the
        // first backup, in the manifest's order after them).
        let measured = Dictionary((status.lastSuccessful?.components ?? []).compactMap { result in result.bytes.map { (result.name, $0) } }) { first, _ in first }
        let order = ComponentTasks.largestFirst(components.map { measured[$0.name] })
        // The index's encryption starts with the last component, beside it, instead of after every
        // component: its key derivation (an S2K at the maximum count, ~0.15 s of a core) was the last
        // step of every backup, with the other core idle. Its input, the index, follows once every
        // component is stored (`DeferredInput`); every way out below decides it. Started with the
        // first components it measured slower (0.52-0.58 s for the demo appliance against 0.48-0.51 s):
        // a third derivation then shares the two cores while the last component's runs alone.
        let sealedIndex = DeferredInput()
        let passphrase = self.request.securityPassword
        var startedIndexEncryption: Task<[UInt8], any Error>?
        var startedCount = 0
        await ComponentTasks.run(
            count: components.count, width: width, order: order,
            mayStart: { fatal == nil && self.cancellation.error == nil },
            started: { position in
                startedCount += 1
                if startedCount == components.count {
                    startedIndexEncryption = Self.startIndexEncryption(sealedIndex, cipher: self.orchestrator.cipher, passphrase: passphrase)
                }
                record.components[position].status = .running
                save()
            },
            work: { position, finishedBefore in
                let component = components[position]
                do {
                    return .success(try await self.store(component, finishedBefore: finishedBefore, compression: compression, staging: staging, writer: writer, logger: componentLogger))
                } catch {
                    return .failure(BackupError.wrap(error, as: .pluginFailed, component: component.name))
                }
            },
            finished: { position, result in
                completed += 1
                outcomes[position] = result
                let component = components[position]
                switch result {
                case .success(let stored):
                    totalBytes += stored.size ?? 0
                    record.components[position].status = stored.warnings.isEmpty ? .ok : .warning
                    record.components[position].message = stored.warnings.joined(separator: "; ")
                    record.components[position].bytes = stored.size
                case .failure(let failure):
                    record.components[position].status = .failed
                    record.components[position].message = failure.message
                    if component.optional {
                        logger.warning("optional component failed", metadata: ["component": "\(component.name)", "error": "\(failure.message)"])
                    } else if fatal == nil {
                        fatal = failure
                    }
                }
                record.progress = .init(completedComponents: completed, totalComponents: components.count, bytes: totalBytes)
                save()
            })
        // Ends the index's encryption, when it started, with `error`, and waits for its end.
        let indexEncryption = startedIndexEncryption
        func abandonIndex(_ error: BackupError) async {
            sealedIndex.abandon(error)
            _ = await indexEncryption?.result
        }
        // Checked before a component's failure: an optional component must not swallow it.
        if let stop = self.cancellation.error ?? fatal {
            await abandonIndex(stop)
            writer.abort()
            return self.fail(&record, status: status, error: stop, logger: logger)
        }
        var indexComponents: [BackupIndex.Component] = []
        var warnings: [String] = []
        for (position, component) in components.enumerated() {
            switch outcomes[position] {
            case .success(let stored):
                indexComponents.append(stored)
                warnings += stored.warnings.map { "\(component.name): \($0)" }
            case .failure(let failure):
                warnings.append("optional component \(component.name) was not backed up: \(failure.message)")
                let plugin = self.orchestrator.registry.plugin(id: component.plugin)
                indexComponents.append(BackupIndex.Component(
                    name: component.name, plugin: component.plugin, pluginVersion: plugin?.version ?? "", tags: component.tags,
                    optional: true, outcome: "failed", message: failure.message))
            case nil:
                // Not reached: every component ran unless the job stopped above.
                let failure = BackupError(.system, "component \(component.name) did not run")
                await abandonIndex(failure)
                writer.abort()
                return self.fail(&record, status: status, error: failure, logger: logger)
            }
        }

        let created = ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(started)))
        var index = BackupIndex(
            formatVersion: BackupIndex.currentFormat, tool: "gwbackup", toolVersion: GatewayBackupVersion.current, name: name,
            created: created, createdEpoch: started, sourceHost: ProcessInfo.processInfo.hostName, applianceRoot: self.orchestrator.applianceRoot,
            encryption: .openPGPSymmetric, manifest: manifest, components: indexComponents)
        // Which password this backup needs, in both indexes (a derivation: off the cooperative pool).
        let secret = passphrase
        index.keyID = try? await Blocking.run { KeyIdentifier.of(secret) }
        // Whose backup this is, authenticated: appliances sharing a destination each act on their own.
        let sealed: SealedIndex
        do {
            let identity = try ApplianceIdentity.loadOrCreate(stateDirectory: stateDirectory)
            var withIdentity = SealedIndex(unauthenticated: index)
            withIdentity.applianceID = identity.id
            withIdentity.hostname = identity.hostname
            let recipients = self.orchestrator.cipher.recipientFingerprints
            withIdentity.recipients = recipients.isEmpty ? nil : recipients
            sealed = withIdentity
        } catch {
            await abandonIndex(BackupError.wrap(error))
            writer.abort()
            return self.fail(&record, status: status, error: BackupError.wrap(error), logger: logger)
        }
        let store = self.request.store
        let cipher = self.orchestrator.cipher
        // The SHA-256 of the encrypted index as written, to compare with what the store reads back.
        var sealedDigest = ""
        do {
            // The authenticated index first, then the plain manifest that commits the backup.
            let plain: [UInt8]
            do {
                plain = [UInt8](try JSONCoding.encoder().encode(index))
                sealedIndex.provide([UInt8](try JSONCoding.encoder().encode(sealed)))
            } catch {
                await abandonIndex(BackupError.wrap(error))
                throw error
            }
            // Every component ran, so the last one started it.
            let encrypted = try await (indexEncryption ?? Self.startIndexEncryption(sealedIndex, cipher: cipher, passphrase: passphrase)).value
            sealedDigest = try await Blocking.run("gwbackup.store") { () -> String in
                let sink = HashingSink(try writer.createComponent(file: SealedIndex.fileName))
                try encrypted.withUnsafeBytes { try sink.write($0) }
                try sink.finish()
                return sink.hexDigest()
            }
            try await Blocking.run { try writer.commit(index: plain) }
        } catch {
            let failure = BackupError.wrap(error, as: .storage)
            // A connection lost during the commit leaves its outcome unknown: look before saying.
            let committed = (try? await Blocking.run { Self.isCommitted(name, in: store) }) ?? nil
            guard committed != false else {
                writer.abort()
                return self.fail(&record, status: status, error: failure, logger: logger)
            }
            record.status = .error
            record.message = committed == nil
                ? "backup failed: \(failure.description); whether \(name) was committed is unknown (the store could not be read back): check with gwbackup list"
                : "backup failed: \(failure.description); \(name) was committed nonetheless and is checked below"
            if committed == nil {
                record.finished = Orchestrator.now()
                status.running = record
                logger.error("backup commit outcome unknown", metadata: ["error": "\(failure.description)"])
                return status
            }
        }
        // The store's word is not taken: read back what it kept before saying COMPLETED.
        let writtenDigest = sealedDigest
        do {
            try await Blocking.run("gwbackup.verify") {
                do {
                    try Self.checkCommitted(name: name, sealed: sealed, sealedDigest: writtenDigest, store: store)
                } catch let error as BackupError where error.code == .connection {
                    // A connection lost after the commit: look again over a new one before judging.
                    try Self.checkCommitted(name: name, sealed: sealed, sealedDigest: writtenDigest, store: store)
                }
            }
        } catch {
            let failure = BackupError.wrap(error, as: .storage)
            return self.fail(&record, status: status, error: BackupError(.storage, "the store did not keep the backup as written: \(failure.message)"), logger: logger, committed: name)
        }
        if self.request.verifyAfterCommit {
            var verifier = BackupVerifier(store: store, cipher: cipher, archive: self.orchestrator.archive, decompressors: self.orchestrator.decompressors, jobs: self.request.jobs, cancellation: self.cancellation)
            verifier.stateDirectory = stateDirectory
            let report: BackupVerifier.Report
            do {
                report = try await verifier.verify(backup: name, passphrase: passphrase)
            } catch {
                return self.fail(&record, status: status, error: BackupError(.storage, "reading the backup back failed: \(BackupError.wrap(error).message)"), logger: logger, committed: name)
            }
            guard report.ok else {
                let failed = report.components.filter { $0.status == .failed }.map { "\($0.name): \($0.message)" }.joined(separator: "; ")
                return self.fail(&record, status: status, error: BackupError(.storage, "the backup read back from the store does not verify: \(failed)"), logger: logger, committed: name)
            }
            logger.info("backup read back and verified", metadata: ["components": "\(report.components.count)"])
        }
        committed = true
        record.status = .completed
        record.subdir = self.request.store.location(of: name)
        record.message = warnings.joined(separator: "; ")
        record.finished = Orchestrator.now()
        status.lastSuccessful = record
        status.running = record
        logger.info("backup completed", metadata: ["bytes": "\(totalBytes)", "warnings": "\(warnings.count)"])
        return status
    }

    /// Collects one component and streams it, archived and encrypted, into the backup.
    private func store(_ component: ManifestComponent, finishedBefore: Int, compression: (any PayloadCompression)?, staging: StagingArea, writer: any BackupWriter, logger: Logger) async throws -> BackupIndex.Component {
        guard let plugin = self.orchestrator.registry.plugin(id: component.plugin) else {
            throw BackupError(.pluginFailed, "unknown plugin '\(component.plugin)'")
        }
        let total = self.request.manifest.components.count
        let progress = self.orchestrator.onProgress
        progress(JobProgress(job: "backup", phase: "collecting", component: component.name, completedComponents: finishedBefore, totalComponents: total, bytes: 0))
        let directory = try staging.makeDirectory(component.name)
        let report = try await plugin.collect(self.orchestrator.context(for: component, staging: directory))

        let file = component.name + (compression?.fileSuffix ?? ".tar") + ".gpg"
        let archive = self.orchestrator.archive
        let cipher = self.orchestrator.cipher
        let passphrase = self.request.securityPassword
        let name = component.name
        let (summary, size, digest) = try await Blocking.run("gwbackup.encrypt") { () -> (ArchiveSummary, UInt64, String) in
            let sink = try writer.createComponent(file: file)
            let hashing = HashingSink(sink) { bytes in
                progress(JobProgress(job: "backup", phase: "encrypting", component: name, completedComponents: finishedBefore, totalComponents: total, bytes: bytes))
            }
            let (summary, _) = try StreamPipe.run(
                produce: { pipe in
                    guard let compression else { return try archive.archive(directory: URL(fileURLWithPath: directory), to: pipe) }
                    let compressing = try compression.compressor(into: pipe)
                    let summary = try archive.archive(directory: URL(fileURLWithPath: directory), to: compressing)
                    try compressing.finish()
                    return summary
                },
                consume: { source in try cipher.encrypt(from: source, to: hashing, passphrase: passphrase) })
            try hashing.finish()
            return (summary, hashing.byteCount, hashing.hexDigest())
        }
        // The plaintext copy is no longer needed; free the space before the next component.
        try? FileTree.remove(directory)
        logger.info("component stored", metadata: ["component": "\(component.name)", "bytes": "\(size)", "entries": "\(summary.entryCount)"])
        return BackupIndex.Component(
            name: component.name, plugin: plugin.id, pluginVersion: plugin.version, tags: component.tags, optional: component.optional,
            outcome: "ok", file: file, size: size, sha256: digest, fileCount: summary.entryCount, contentBytes: summary.contentBytes, compression: compression?.name ?? "none",
            warnings: report.warnings + summary.skipped.prefix(20).map {
                "staging held \(SafeText.escaped($0, limit: 200)), which is not a file, directory or symlink: not backed up"
            })
    }

    /// True when `name` is listed as a complete backup, false when it is not, nil when the store cannot
    /// be read.
    static func isCommitted(_ name: String, in store: any BackupStore) -> Bool? {
        guard let entries = try? store.listEntries() else { return nil }
        return entries.contains { $0.name == name && $0.kind == .complete }
    }

    /// Reads back a committed backup: every component file reads back whole with the size and SHA-256
    /// that were written (a store that keeps zeros of the right size, or less than it acknowledged, is
    /// caught), the plain manifest decodes and agrees with the index, and the encrypted index reads
    /// back byte for byte as written (as strong as decrypting it again, without a key derivation).
    static func checkCommitted(name: String, sealed: SealedIndex, sealedDigest: String, store: any BackupStore) throws {
        // Listed directly (not through `isCommitted`): a lost connection must surface as one, so the
        // caller can look again over a new connection.
        guard try store.listEntries().contains(where: { $0.name == name && $0.kind == .complete }) else {
            throw BackupError(.storage, "\(name) is not listed as a complete backup after its commit")
        }
        for component in sealed.components {
            guard let file = component.file, let size = component.size, let digest = component.sha256 else { continue }
            let limited = LimitedSource(try store.openComponent(backup: name, file: file), limit: size)
            let readBack = HashingSource(limited)
            _ = try readBack.copy(to: NullSink())
            guard !limited.exceeded, readBack.byteCount == size else {
                throw BackupError(.storage, "\(file) reads back as \(limited.exceeded ? "more than \(size)" : "\(readBack.byteCount)") bytes, \(size) were written")
            }
            guard readBack.hexDigest() == digest else {
                throw BackupError(.storage, "\(file) reads back with other bytes than were written (its SHA-256 differs)")
            }
        }
        let plain = try BackupIndex.decode(try store.readIndex(backup: name), backup: name)
        try sealed.check(agreesWith: plain)
        let readBack = HashingSource(LimitedSource(try store.openComponent(backup: name, file: SealedIndex.fileName), limit: UInt64(SealedIndex.sizeLimit)))
        _ = try readBack.copy(to: NullSink())
        guard readBack.hexDigest() == sealedDigest else {
            throw BackupError(.storage, "its authenticated index (\(SealedIndex.fileName)) reads back different from what was written")
        }
    }

    /// Starts encrypting the sealed index that `input` will hold (see `DeferredInput`); the task's
    /// value is the encrypted index.
    private static func startIndexEncryption(_ input: DeferredInput, cipher: any PayloadCipher, passphrase: Secret) -> Task<[UInt8], any Error> {
        Task {
            try await Blocking.run("gwbackup.encrypt") { () -> [UInt8] in
                // gpg adds a few dozen bytes to what it encrypts, uncompressed (fewer, compressed).
                let sink = BoundedMemorySink(limit: SealedIndex.sizeLimit + 65_536, what: "the encrypted index")
                try cipher.encrypt(deferred: input, to: sink, passphrase: passphrase)
                return sink.bytes
            }
        }
    }

    /// The status to publish for a failed backup.
    private func fail(_ record: inout JobRecord, status: BackupStatus, error: BackupError, logger: Logger, committed: String? = nil) -> BackupStatus {
        // Recorded where the catalog looks: an untrusted backup must never count as the newest.
        if let committed {
            do {
                try UntrustedBackups.add(store: self.request.store.displayName, name: committed, reason: error.description, in: self.orchestrator.status.directory)
            } catch {
                logger.error("cannot record an untrusted backup", metadata: ["backup": "\(committed)", "error": "\(error)"])
            }
        }
        record.status = .error
        record.message = committed.map { "backup failed: \(error.description); \($0) was committed but must not be trusted" }
            ?? "backup failed: \(error.description); nothing was committed"
        record.finished = Orchestrator.now()
        var status = status
        status.running = record
        logger.error("backup failed", metadata: ["error": "\(error.description)"])
        return status
    }

    /// `<appliance>-YYYYMMDDTHHMMSSZ`: names sort by creation time.
    public static func backupName(appliance: String, date: Date) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return "\(appliance)-\(formatter.string(from: date))"
    }
}

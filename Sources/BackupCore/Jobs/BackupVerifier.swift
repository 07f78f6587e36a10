import BackupModel
import BackupPOSIX
import Foundation

/// Checks a stored backup without restoring anything: by checksum alone, or, given the security
/// password, by decrypting and reading every component's archive.
public struct BackupVerifier: Sendable {
    /// What a verification found.
    public struct Report: Sendable, Codable, Equatable {
        public var backup: String
        public var location: String
        /// `checksum` or `decrypt`.
        public var mode: String
        public var ok: Bool
        public var components: [ComponentResult]
        public var ignored: [String]
    }

    public var store: any BackupStore
    public var cipher: any PayloadCipher
    public var archive: any ArchiveFormat
    /// What it can decompress, by the name the index records.
    public var decompressors: [String: any PayloadCompression]
    /// How many components are checked at once; nil: one per core.
    public var jobs: Int?
    /// Once it fires, no further component is started; those not checked are reported as failed
    /// (a stopped verification never reports a backup as good).
    public var cancellation: JobCancellation?
    /// Stops the verification (as `cancellation` does) after this many seconds; nil: no deadline of
    /// its own (a job's verification has the job's).
    public var deadlineSeconds: Double?
    /// The state directory: this appliance's identity, and the catalog's cache of authenticated indexes.
    public var stateDirectory: String?
    /// Whose backups to choose from (see `RestoreRequest.appliance`); nil: this appliance's.
    public var appliance: String?
    /// With the password: decrypt every component and read its archive (true), or only compare each
    /// component file with the authenticated index's size and SHA-256 (false: finds damage and
    /// tampering, proves less than a decryption; a schedule's `readData: false`).
    public var readData = true

    public init(store: any BackupStore, cipher: any PayloadCipher, archive: any ArchiveFormat, decompressors: [String: any PayloadCompression] = [:], jobs: Int? = nil, cancellation: JobCancellation? = nil) {
        self.store = store
        self.cipher = cipher
        self.archive = archive
        self.decompressors = decompressors
        self.jobs = jobs
        self.cancellation = cancellation
    }

    /// Verifies `backup` (the newest complete one when nil). Throws only when no backup can be read,
    /// or, given the password, when its index does not authenticate (unless `allowUnauthenticated`).
    /// Without the password only checksums from the plain manifest can be compared: that finds damage,
    /// not tampering, and the report says so.
    public func verify(backup: String?, passphrase: Secret?, allowUnauthenticated: Bool = false) async throws -> Report {
        defer { self.cipher.releaseResources() }
        let cancellation = self.cancellation ?? JobCancellation()
        let deadline = self.deadlineSeconds.map { cancellation.stop(after: $0) }
        defer { deadline?.cancel() }
        let store = self.store
        let authenticated: AuthenticatedBackup
        var ignored: [String] = []
        if let passphrase {
            authenticated = try await self.chooseAuthenticated(backup: backup, passphrase: passphrase, allowUnauthenticated: allowUnauthenticated, ignored: &ignored)
        } else {
            // Without the password: the plain manifests only, which find damage, not tampering.
            let catalog = try await Blocking.run { try BackupCatalog.read(store) }
            let entry = try await Blocking.run { try catalog.choose(backup, store: store) }
            ignored = catalog.ignored.map(\.description)
            authenticated = AuthenticatedBackup(name: entry.name, index: SealedIndex(unauthenticated: entry.index), plain: entry.index, isAuthenticated: false)
        }
        // Checked several at once, the largest first; reported in the index's order. A failure does
        // not stop the others: the report says what is wrong with each.
        let components = authenticated.index.components
        var results = components.map { component in
            component.outcome == "ok"
                ? ComponentResult(name: component.name, status: .pending, bytes: component.size)
                : ComponentResult(name: component.name, status: .skipped, message: "not in this backup: failed at backup time")
        }
        let checked = components.indices.filter { components[$0].outcome == "ok" }
        let name = authenticated.name
        await ComponentTasks.run(
            count: checked.count, width: ComponentTasks.width(self.jobs, count: checked.count),
            order: ComponentTasks.largestFirst(checked.map { components[$0].size }),
            mayStart: { cancellation.error == nil }, started: { _ in },
            work: { position, _ -> Result<Void, BackupError> in
                do {
                    try await self.check(components[checked[position]], backup: name, passphrase: passphrase)
                    return .success(())
                } catch {
                    return .failure(BackupError.wrap(error))
                }
            },
            finished: { position, result in
                switch result {
                case .success: results[checked[position]].status = .ok
                case .failure(let error):
                    results[checked[position]].status = .failed
                    results[checked[position]].message = error.message
                }
            })
        if let stopped = cancellation.error {
            for index in results.indices where results[index].status == .pending {
                results[index].status = .failed
                results[index].message = "not checked: \(stopped.message)"
            }
        }
        let mode = passphrase == nil ? "checksum" : !self.readData ? "checksum (authenticated)" : (authenticated.isAuthenticated ? "decrypt" : "decrypt (unauthenticated)")
        // A whole authenticated backup decrypted and read is a proof monitoring counts (checksums
        // alone find damage, not a wrong password or tampering: they do not count).
        if passphrase != nil, self.readData, authenticated.isAuthenticated, let stateDirectory = self.stateDirectory {
            StatusStore(directory: stateDirectory).recordVerification(ok: !results.contains { $0.status == .failed }, at: Int64(Date().timeIntervalSince1970))
        }
        return Report(
            backup: authenticated.name, location: store.location(of: authenticated.name), mode: mode,
            ok: !results.contains { $0.status == .failed }, components: results, ignored: ignored)
    }

    /// The backup to verify (`BackupSelection`): `backup` by name whoever took it (reading changes
    /// nothing), or the newest of the appliance's, as restore chooses.
    private func chooseAuthenticated(backup: String?, passphrase: Secret, allowUnauthenticated: Bool, ignored: inout [String]) async throws -> AuthenticatedBackup {
        let own = try self.stateDirectory.flatMap { try ApplianceIdentity.read(stateDirectory: $0) }?.id
        let selection = BackupSelection(store: self.store, cipher: self.cipher, passphrase: passphrase, stateDirectory: self.stateDirectory)
        let outcome = try await selection.choose(name: backup, appliance: self.appliance, own: own, anyOwnerByName: true, allowUnauthenticated: allowUnauthenticated)
        ignored = outcome.catalog.unverified.map(\.description) + outcome.catalog.ignored.map(\.description)
        return outcome.backup
    }

    private func check(_ component: SealedIndex.Component, backup: String, passphrase: Secret?) async throws {
        let decryptor = ComponentDecryptor(store: self.store, cipher: self.cipher, passphrase: passphrase ?? Secret(""))
        guard passphrase != nil, self.readData else {
            try await Blocking.run { try decryptor.checksum(backup: backup, component: component) }
            return
        }
        let archive = self.archive
        let limits = ArchiveLimits(entries: component.entries, contentBytes: component.contentBytes)
        let decompression = try Orchestrator.decompression(named: component.compression, in: self.decompressors)
        // The authenticated plaintext waits in a private directory of the state's staging.
        let spool = try StagingArea(base: (self.stateDirectory ?? NSTemporaryDirectory()) + "/staging", kind: "verify")
        defer { spool.remove() }
        let summary = try await Blocking.run("gwbackup.verify") { () -> ArchiveSummary in
            try StreamPipe.run(
                produce: { pipe in try decryptor.decrypt(backup: backup, component: component, into: pipe, decompression: decompression, spool: spool.path + "/plaintext.spool") },
                consume: { source in try archive.validate(from: source, limits: limits) }).1
        }
        if let expected = component.entries, expected != summary.entryCount {
            throw BackupError(.corrupted, "the archive holds \(summary.entryCount) entries but the backup recorded \(expected)")
        }
    }
}

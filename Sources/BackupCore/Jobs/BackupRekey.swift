import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// `gwbackup rekey`: re-encrypts backups so that they open with a new security password and no
/// longer with the old one.
///
/// GPGME offers no way to re-wrap an OpenPGP message's session key under a new passphrase (gpg
/// encrypts with a session key of its own choosing and never takes one), so every file is decrypted
/// with the old password and encrypted again with the new one, streaming: the cost is one decryption
/// and one encryption per byte (measured in docs/performance.md), and the data never leaves the store's
/// machine unencrypted except through the private staging of this process.
///
/// Each backup is rotated so that a crash or a lost connection at any point leaves it readable with
/// exactly one of the two passwords, and a second run finishes the work:
///  1. each component is written again under a new name (`<name>.<key>.tar.zst.gpg`) beside the old;
///  2. the new plain manifest (`manifest.next.json`) and the new authenticated index
///     (`index.next.json.gpg`) are written, and read back;
///  3. the old index is removed: the commit. Readers take `index.next.json.gpg` while
///     `index.json.gpg` is missing, and the plain manifest that agrees with the index they took;
///  4. the new index and plain manifest are renamed into place, the old component files removed.
/// Before 3 the backup opens with the old password only (the new files are ignored, and removed by
/// the next run); from 3 on, with the new one only.
public struct BackupRekey: Sendable {
    /// What happened to one backup (`RekeyReport.Outcome`).
    public typealias Outcome = RekeyReport.Outcome
    /// What a rotation did (`RekeyReport`).
    public typealias Report = RekeyReport

    var orchestrator: Orchestrator
    var store: any BackupStore
    var oldPassphrase: Secret
    var newPassphrase: Secret
    /// The backups to rotate; empty: every backup of this appliance that opens with either password.
    var backups: [String]
    /// Rotate a backup encrypted to recovery keys that this rotation does not encrypt to (the
    /// cipher's recipients), and so leave those keys out. Without it such a backup fails, named,
    /// unchanged: a rotation must not quietly take away the way in that an organisation keeps offline.
    var dropRecoveryKeys: Bool

    public init(orchestrator: Orchestrator, store: any BackupStore, oldPassphrase: Secret, newPassphrase: Secret, backups: [String] = [], dropRecoveryKeys: Bool = false) {
        self.orchestrator = orchestrator
        self.store = store
        self.oldPassphrase = oldPassphrase
        self.newPassphrase = newPassphrase
        self.backups = backups
        self.dropRecoveryKeys = dropRecoveryKeys
    }

    /// Rotates the chosen backups, one after another; a backup that fails does not stop the others.
    /// Throws when it cannot start (the lock, the passwords, the store) or was stopped.
    public func run() async throws -> Report {
        try await self.begin().run()
    }

    /// Checks the passwords and takes the job lock; `run()` on the job does the rest. The API takes
    /// the lock in the request, so that a second job is refused at once, and runs the job after.
    public func begin(runID: String? = nil) async throws -> RekeyJob {
        guard !self.newPassphrase.isEmpty else { throw BackupError(.invalidInput, "the new security password must not be empty") }
        guard !self.oldPassphrase.isEmpty else { throw BackupError(.invalidInput, "the security password must not be empty") }
        if let runID, !JobRecord.isValidRunID(runID) {
            throw BackupError(.invalidInput, "the run id must be 1-128 letters, digits or ._:+- characters")
        }
        let (old, new) = (self.oldPassphrase, self.newPassphrase)
        let (oldKey, newKey) = try await Blocking.run { (KeyIdentifier.of(old), KeyIdentifier.of(new)) }
        guard oldKey != newKey else { throw BackupError(.invalidInput, "the new security password is the old one (key \(oldKey))") }
        let lock = try await self.orchestrator.lockForJob("rekey of \(self.store.displayName)")
        return RekeyJob(rekey: self, lock: lock, id: Orchestrator.newJobID(), runID: runID, oldKey: oldKey, newKey: newKey)
    }

    /// The rotation itself, with the lock held; `record` sees every backup's outcome as it comes.
    func perform(oldKey: String, newKey: String, record: (Report) -> Void) async throws -> Report {
        // A stop (a shutdown, the deadline) also ends a read the store is stalling.
        let interruptible = self.store
        self.orchestrator.cancellation.onCancel { reason in interruptible.interrupt(reason: reason) }
        _ = await self.orchestrator.recoverAfterInterruption(logger: self.orchestrator.logger)
        defer { self.orchestrator.cipher.releaseResources() }
        let names = try await self.chooseBackups()
        let staging = try StagingArea(base: self.orchestrator.stagingBase, kind: "rekey")
        defer { staging.remove() }
        var report = Report(location: self.store.displayName, oldKeyID: oldKey, newKeyID: newKey, backups: [])
        for (position, name) in names.enumerated() {
            if let stopped = self.orchestrator.cancellation.error { throw stopped }
            self.orchestrator.onProgress(JobProgress(job: "rekey", phase: "re-encrypting", component: name, completedComponents: position, totalComponents: names.count, bytes: 0))
            do {
                let (result, message) = try await self.rotate(name, newKey: newKey, staging: staging)
                report.backups.append(Outcome(backup: name, result: result, message: message, keyID: newKey))
            } catch {
                let failure = self.orchestrator.cancellation.error ?? BackupError.wrap(error)
                self.orchestrator.logger.error("rekey failed", metadata: ["backup": "\(SafeText.escaped(name))", "error": "\(failure.description)"])
                report.backups.append(Outcome(backup: name, result: .failed, message: failure.message, keyID: nil))
            }
            record(report)
        }
        return report
    }

    /// The named backups, or this appliance's backups that open with either password.
    private func chooseBackups() async throws -> [String] {
        if !self.backups.isEmpty { return self.backups }
        let (store, cipher, stateDirectory) = (self.store, self.orchestrator.cipher, self.orchestrator.status.directory)
        let own = try ApplianceIdentity.read(stateDirectory: stateDirectory)?.id
        var names: [String] = []
        for passphrase in [self.oldPassphrase, self.newPassphrase] {
            let catalog: AuthenticatedCatalog
            do {
                catalog = try await Blocking.run("gwbackup.decrypt") {
                    try AuthenticatedCatalog.open(store: store, cipher: cipher, passphrase: passphrase, stateDirectory: stateDirectory)
                }
            } catch let error as BackupError where error.code == .wrongPassword {
                continue
            }
            names += catalog.backups(of: own).map(\.name).filter { !names.contains($0) }
        }
        guard !names.isEmpty else {
            throw BackupError(.wrongPassword, "neither password opens a backup of this appliance in \(store.displayName)")
        }
        return names.sorted()
    }

    /// Where a backup stands, from the files it holds and which password opens its index.
    private enum State {
        /// The old index is in place and opens with the old password: rotate it.
        case old(SealedIndex)
        /// The new index is in place or pending: finish what is left.
        case new(SealedIndex)
    }

    private func state(of name: String) async throws -> State {
        let store = self.store
        let files = try await Blocking.run { try store.fileNames(backup: name) }
        let file = files.contains(SealedIndex.fileName) ? SealedIndex.fileName : SealedIndex.pendingFileName
        guard files.contains(file) else {
            throw BackupError(.unauthenticated, "backup \(SafeText.escaped(name)) has no authenticated index; it cannot be rotated")
        }
        let encrypted = try await Blocking.run { try store.readSmallFile(backup: name, file: file) }
        for (passphrase, isNew) in [(self.oldPassphrase, false), (self.newPassphrase, true)] {
            // The pending index was written under the new password only.
            if file == SealedIndex.pendingFileName && !isNew { continue }
            let cipher = self.orchestrator.cipher
            let decrypted: [UInt8]
            do {
                decrypted = try await Blocking.run("gwbackup.decrypt") { () -> [UInt8] in
                    let sink = BoundedMemorySink(limit: SealedIndex.sizeLimit, what: "the decrypted index")
                    try cipher.decrypt(from: MemoryByteSource(Data(encrypted)), to: sink, passphrase: passphrase)
                    return sink.bytes
                }
            } catch let error as BackupError where error.code == .wrongPassword {
                continue
            }
            let index = try SealedIndex.decode(decrypted, backup: name)
            return isNew ? .new(index) : .old(index)
        }
        throw BackupError(.wrongPassword, "backup \(SafeText.escaped(name)) opens with neither password")
    }

    private func rotate(_ name: String, newKey: String, staging: StagingArea) async throws -> (Outcome.Result, String) {
        switch try await self.state(of: name) {
        case .new(let index):
            let leftovers = try await self.finish(name, index: index)
            return leftovers ? (.finished, "an interrupted rotation was finished") : (.unchanged, "already opened with the new password")
        case .old(let index):
            let kept = Set(self.orchestrator.cipher.recipientFingerprints)
            let lost = (index.recipients ?? []).filter { !kept.contains($0) }
            if !lost.isEmpty && !self.dropRecoveryKeys {
                throw BackupError(
                    .invalidInput,
                    "it is also encrypted to recovery key(s) \(lost.joined(separator: ", ")), which this rotation does not encrypt to: give their public keys (--recipient-key, or the server's recipientKeys), or rotate without them on purpose (--drop-recovery-keys); the backup was left as it was")
            }
            try await self.reencrypt(name, index: index, newKey: newKey, staging: staging)
            _ = try await self.finish(name, index: try await self.pendingIndex(name))
            return (.rekeyed, "re-encrypted: \(index.components.filter { $0.outcome == "ok" }.count) component(s) and the index")
        }
    }

    /// Steps 1 to 3: the new files beside the old, read back, then the old index removed.
    private func reencrypt(_ name: String, index: SealedIndex, newKey: String, staging: StagingArea) async throws {
        let store = self.store
        let plain = try await Blocking.run {
            try store.plainManifest(agreeingWith: index, backup: name, first: try BackupIndex.decode(try store.readIndex(backup: name), backup: name))
        }
        // What an earlier run left before its commit counts for nothing.
        try await Blocking.run {
            try store.removeFile(backup: name, file: SealedIndex.pendingFileName)
            try store.removeFile(backup: name, file: BackupIndex.pendingFileName)
        }
        var sealed = index
        var manifest = plain
        let decryptor = ComponentDecryptor(store: store, cipher: self.orchestrator.cipher, passphrase: self.oldPassphrase)
        let (cipher, newPassphrase) = (self.orchestrator.cipher, self.newPassphrase)
        for (position, component) in index.components.enumerated() where component.outcome == "ok" {
            if let stopped = self.orchestrator.cancellation.error { throw stopped }
            let suffix = component.compression == "none" ? ".tar.gpg" : ".tar.zst.gpg"
            let file = component.name + "." + newKey + suffix
            let (size, digest) = try await Blocking.run("gwbackup.rekey") { () -> (UInt64, String) in
                let sink = HashingSink(try store.createFile(backup: name, file: file))
                // Decryption and encryption at once, no spool: the new file counts only once the old
                // one authenticated in full (this throws otherwise) and the index names it.
                _ = try StreamPipe.run(
                    produce: { pipe in try decryptor.decryptUnauthenticatedStream(backup: name, component: component, into: pipe) },
                    consume: { source in try cipher.encrypt(from: source, to: sink, passphrase: newPassphrase) })
                try sink.finish()
                // The store's word is not taken: its size of the new file, before the commit.
                let stored = try store.sizeOfComponent(backup: name, file: file)
                guard stored == sink.byteCount else {
                    throw BackupError(.storage, "\(file) reads back as \(stored) bytes; \(sink.byteCount) were written")
                }
                return (sink.byteCount, sink.hexDigest())
            }
            sealed.components[position].file = file
            sealed.components[position].size = size
            sealed.components[position].sha256 = digest
            if let plainPosition = manifest.components.firstIndex(where: { $0.name == component.name }) {
                manifest.components[plainPosition].file = file
                manifest.components[plainPosition].size = size
                manifest.components[plainPosition].sha256 = digest
            }
            KillPoint.reach("rekey: \(file) written")
        }
        sealed.keyID = newKey
        manifest.keyID = newKey
        // The new files are encrypted to this run's recovery keys (none unless given again).
        let recipients = cipher.recipientFingerprints
        sealed.recipients = recipients.isEmpty ? nil : recipients
        try sealed.check(agreesWith: manifest)
        let sealedBytes = [UInt8](try JSONCoding.encoder().encode(sealed))
        let plainBytes = [UInt8](try JSONCoding.encoder().encode(manifest))
        try await Blocking.run("gwbackup.rekey") {
            let plainSink = try store.createFile(backup: name, file: BackupIndex.pendingFileName)
            try plainBytes.withUnsafeBytes { try plainSink.write($0) }
            try plainSink.finish()
            KillPoint.reach("rekey: \(BackupIndex.pendingFileName) written")
            let encrypted = BoundedMemorySink(limit: SealedIndex.sizeLimit, what: "the encrypted index")
            try cipher.encrypt(from: MemoryByteSource(Data(sealedBytes)), to: encrypted, passphrase: newPassphrase)
            let sealedSink = try store.createFile(backup: name, file: SealedIndex.pendingFileName)
            try encrypted.bytes.withUnsafeBytes { try sealedSink.write($0) }
            try sealedSink.finish()
            // Read back before the commit: the new index must be what was written, and open.
            guard try store.readSmallFile(backup: name, file: SealedIndex.pendingFileName) == encrypted.bytes,
                  try store.readSmallFile(backup: name, file: BackupIndex.pendingFileName) == plainBytes
            else { throw BackupError(.storage, "the new index of \(SafeText.escaped(name)) does not read back as written; the backup was left as it was") }
            KillPoint.reach("rekey: \(SealedIndex.pendingFileName) written")
            // The commit.
            try store.removeFile(backup: name, file: SealedIndex.fileName)
            KillPoint.reach("rekey: old index removed (committed)")
        }
    }

    /// The pending index just written (it opens with the new password).
    private func pendingIndex(_ name: String) async throws -> SealedIndex {
        guard case .new(let index) = try await self.state(of: name) else {
            throw BackupError(.storage, "backup \(SafeText.escaped(name)) does not open with the new password after its rotation was committed")
        }
        return index
    }

    /// Step 4: the new index and plain manifest in place, the files no index names removed. Returns
    /// whether anything was left to do.
    private func finish(_ name: String, index: SealedIndex) async throws -> Bool {
        let store = self.store
        return try await Blocking.run("gwbackup.rekey") { () -> Bool in
            var files = Set(try store.fileNames(backup: name))
            var changed = false
            if !files.contains(SealedIndex.fileName) && files.contains(SealedIndex.pendingFileName) {
                try store.renameFile(backup: name, file: SealedIndex.pendingFileName, to: SealedIndex.fileName)
                changed = true
                KillPoint.reach("rekey: new index renamed into place")
            } else if files.contains(SealedIndex.pendingFileName) {
                // Both: the one in place opened with the new password, so the pending one is stale.
                try store.removeFile(backup: name, file: SealedIndex.pendingFileName)
                changed = true
            }
            if files.contains(BackupIndex.pendingFileName) {
                let pending = try BackupIndex.decode(try store.readSmallFile(backup: name, file: BackupIndex.pendingFileName), backup: name)
                if (try? index.check(agreesWith: pending)) != nil {
                    // No rename over an existing file on SFTP: readers take the pending one meanwhile.
                    if files.contains(BackupIndex.fileName) {
                        try store.removeFile(backup: name, file: BackupIndex.fileName)
                        KillPoint.reach("rekey: old plain manifest removed")
                    }
                    try store.renameFile(backup: name, file: BackupIndex.pendingFileName, to: BackupIndex.fileName)
                    KillPoint.reach("rekey: new plain manifest renamed into place")
                } else {
                    try store.removeFile(backup: name, file: BackupIndex.pendingFileName)
                }
                changed = true
            }
            files = Set(try store.fileNames(backup: name))
            let named = Set(index.components.compactMap(\.file))
            for file in files.sorted() where !named.contains(file) && Self.isComponentFile(file, of: index) {
                try store.removeFile(backup: name, file: file)
                changed = true
                KillPoint.reach("rekey: \(file) removed")
            }
            return changed
        }
    }

    /// True for a component file name of one of `index`'s components under any key: only those are
    /// removed; whatever else someone put in the directory is not this command's to delete.
    static func isComponentFile(_ file: String, of index: SealedIndex) -> Bool {
        for component in index.components {
            for suffix in [".tar.zst.gpg", ".tar.gpg"] {
                if file == component.name + suffix { return true }
                let prefix = component.name + "."
                if file.hasPrefix(prefix), file.hasSuffix(suffix), file.count == prefix.count + 16 + suffix.count,
                   KeyIdentifier.isValid(String(file.dropFirst(prefix.count).dropLast(suffix.count))) {
                    return true
                }
            }
        }
        return false
    }
}

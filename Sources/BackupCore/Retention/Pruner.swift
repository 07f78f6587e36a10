import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// Applies a retention policy to a backup path, acting only on what the security password
/// authenticates (`AuthenticatedCatalog`): only this appliance's authenticated backups count and can be
/// deleted, by their authenticated times; the newest is always kept, and so are `protected` ones; a
/// directory that does not authenticate, and every other appliance's backup, is left alone and reported;
/// nothing is deleted when the newest backup's files are not all there. The store is read without the
/// job lock; deletions happen under it (never while a job runs). Leftovers of interrupted backups and
/// deletions older than a day are removed. Each deletion is a rename out of sight, then removal.
public struct Pruner: Sendable {
    /// What a prune decided and did.
    public struct Report: Sendable, Codable, Equatable {
        public var location: String
        public var dryRun: Bool
        /// The appliance whose backups the policy applied to.
        public var appliance: String
        /// Every authenticated backup of this appliance, newest first, kept or deleted, with the reasons.
        public var decisions: [Retention.Decision]
        /// Leftovers (`.partial-…`, `.deleting-…`) removed, or that would be.
        public var leftovers: [String]
        /// Directories that did not authenticate: never deleted, never counted.
        public var unverified: [AuthenticatedCatalog.Unverified]
        /// Authenticated backups of other appliances: never touched.
        public var otherAppliances: [String]
        /// Entries that are not backups.
        public var untouched: [String]

        // snake_case, as every `--json` output (docs/json/).
        enum CodingKeys: String, CodingKey {
            case location, appliance, decisions, leftovers, unverified, untouched
            case dryRun = "dry_run"
            case otherAppliances = "other_appliances"
        }
    }

    /// Leftovers younger than this may belong to a backup still being written elsewhere.
    public static let leftoverAge: Int64 = 86400

    public var store: any BackupStore
    public var policy: RetentionPolicy
    public var status: StatusStore
    public var cipher: any PayloadCipher
    public var passphrase: Secret
    public var logger: Logger
    /// Backups never deleted whatever the policy says (the one a scheduled backup just made).
    public var protected: Set<String> = []
    /// The most the whole prune may take: past it, a read or deletion the store is stalling is ended.
    public var deadlineSeconds: Double = 6 * 3600

    public init(store: any BackupStore, policy: RetentionPolicy, status: StatusStore, cipher: any PayloadCipher, passphrase: Secret, logger: Logger) {
        self.store = store
        self.policy = policy
        self.status = status
        self.cipher = cipher
        self.passphrase = passphrase
        self.logger = logger
    }

    /// Decides, and unless `dryRun` deletes. Blocking. Throws `.busy` while a job runs, `.wrongPassword`
    /// when the password opens none of the backups.
    public func run(dryRun: Bool, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Report {
        try self.policy.validate()
        try self.status.prepare()
        let identity = try ApplianceIdentity.loadOrCreate(stateDirectory: self.status.directory)
        defer { self.cipher.releaseResources() }
        return try self.store.withinDeadline(self.deadlineSeconds) { try self.decideAndDelete(identity: identity, dryRun: dryRun, now: now) }
    }

    private func decideAndDelete(identity: ApplianceIdentity, dryRun: Bool, now: Int64) throws -> Report {
        // Read without the lock: a store that answers slowly holds no job back.
        let catalog = try AuthenticatedCatalog.open(store: self.store, cipher: self.cipher, passphrase: self.passphrase, stateDirectory: self.status.directory)
        let mine = catalog.backups(of: identity.id)
        var decisions = Retention.decide(mine.map { Retention.Candidate(name: $0.name, created: $0.index.createdEpoch) }, policy: self.policy)
        for index in decisions.indices where self.protected.contains(decisions[index].name) {
            decisions[index].keep = true
            decisions[index].reasons = decisions[index].reasons.filter { $0 != "beyond the policy" } + ["just made"]
        }
        // Nothing restorable may be left behind: the newest backup kept must hold every file it records.
        if let newest = mine.last, decisions.contains(where: { !$0.keep }) {
            try self.checkFilesPresent(newest)
        }
        let leftovers = catalog.leftovers.filter { $0.modified.map { now - $0 > Self.leftoverAge } ?? false }.map(\.name)
        let mineNames = Set(mine.map(\.name))
        let others = catalog.backups.map(\.name).filter { !mineNames.contains($0) }
        var logger = self.logger
        logger[metadataKey: "store"] = "\(self.store.displayName)"
        for decision in decisions {
            logger.info(decision.keep ? "retention keeps" : "retention deletes", metadata: [
                "backup": "\(SafeText.escaped(decision.name))", "reasons": "\(decision.reasons.joined(separator: ", "))", "dry_run": "\(dryRun)",
            ])
        }
        for unverified in catalog.unverified {
            logger.warning("retention leaves an unverified directory alone", metadata: ["backup": "\(SafeText.escaped(unverified.name))", "reason": "\(SafeText.escaped(unverified.reason))"])
        }
        if !dryRun {
            let lock = try JobLock.acquire(stateDirectory: self.status.directory, description: "prune of \(self.store.displayName)")
            defer { lock.release() }
            for decision in decisions where !decision.keep {
                try self.store.deleteBackup(name: decision.name)
            }
            for leftover in leftovers {
                try self.store.removeLeftover(entry: leftover)
            }
        } else {
            // A dry run says what would happen now: a job running now would hold the prune back.
            let lock = try JobLock.acquire(stateDirectory: self.status.directory, description: "prune of \(self.store.displayName) (dry run)")
            lock.release()
        }
        return Report(
            location: self.store.location(of: ""), dryRun: dryRun, appliance: identity.id, decisions: decisions, leftovers: leftovers,
            unverified: catalog.unverified, otherAppliances: others, untouched: catalog.ignored.map(\.name) + catalog.leftovers.map(\.name).filter { !leftovers.contains($0) })
    }

    /// Throws unless every file `backup`'s authenticated index records is in the store at its size.
    private func checkFilesPresent(_ backup: AuthenticatedCatalog.Backup) throws {
        for component in backup.index.components {
            guard let file = component.file, let size = component.size else { continue }
            let stored: UInt64
            do { stored = try self.store.sizeOfComponent(backup: backup.name, file: file) } catch {
                throw BackupError(
                    .corrupted,
                    "the newest backup \(SafeText.escaped(backup.name)) is damaged (\(BackupError.wrap(error).message)); nothing was deleted: an older backup may be the only one left that restores")
            }
            guard stored == size else {
                throw BackupError(
                    .corrupted,
                    "the newest backup \(SafeText.escaped(backup.name)) is damaged (\(file) holds \(stored) bytes, its index records \(size)); nothing was deleted: an older backup may be the only one left that restores")
            }
        }
    }
}

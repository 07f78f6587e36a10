import Foundation
import Logging

/// Applies a retention policy to a backup path: only complete backups of ours (a `manifest.json`
/// that decodes) count and can be deleted, the newest is always kept, nothing is deleted while a
/// job holds the lock, leftovers of interrupted backups and deletions older than a day are removed,
/// and every other entry is left alone. Each deletion is a rename out of sight, then removal.
public struct Pruner: Sendable {
    /// What a prune decided and did.
    public struct Report: Sendable, Codable, Equatable {
        public var location: String
        public var dryRun: Bool
        /// Every complete backup, newest first, kept or deleted, with the reasons.
        public var decisions: [Retention.Decision]
        /// Leftovers (`.partial-…`, `.deleting-…`) removed, or that would be.
        public var leftovers: [String]
        /// Entries left alone because they are not backups of ours.
        public var untouched: [String]
    }

    /// Leftovers younger than this may belong to a backup still being written elsewhere.
    public static let leftoverAge: Int64 = 86400

    public var store: any BackupStore
    public var policy: RetentionPolicy
    public var status: StatusStore
    public var logger: Logger

    public init(store: any BackupStore, policy: RetentionPolicy, status: StatusStore, logger: Logger) {
        self.store = store
        self.policy = policy
        self.status = status
        self.logger = logger
    }

    /// Decides, and unless `dryRun` deletes. Blocking. Throws `.busy` while a job runs.
    public func run(dryRun: Bool, now: Int64 = Int64(Date().timeIntervalSince1970)) throws -> Report {
        try self.policy.validate()
        try self.status.prepare()
        let lock = try JobLock.acquire(stateDirectory: self.status.directory, description: "prune of \(self.store.displayName)")
        defer { lock.release() }
        let entries = try self.store.listEntries()
        let catalog = try BackupCatalog.read(self.store, entries: entries)
        let decisions = Retention.decide(catalog.backups.map { Retention.Candidate(name: $0.name, created: $0.index.createdEpoch) }, policy: self.policy)
        let leftovers = entries.filter { $0.kind == .temporary && ($0.modified.map { now - $0 > Self.leftoverAge } ?? false) }.map(\.name)
        let untouched = catalog.ignored.map(\.name).filter { !leftovers.contains($0) }
        var logger = self.logger
        logger[metadataKey: "store"] = "\(self.store.displayName)"
        for decision in decisions {
            logger.info(decision.keep ? "retention keeps" : "retention deletes", metadata: [
                "backup": "\(SafeText.escaped(decision.name))", "reasons": "\(decision.reasons.joined(separator: ", "))", "dry_run": "\(dryRun)",
            ])
        }
        if !dryRun {
            for decision in decisions where !decision.keep {
                try self.store.deleteBackup(name: decision.name)
            }
            for leftover in leftovers {
                try self.store.removeLeftover(entry: leftover)
            }
        }
        return Report(location: self.store.location(of: ""), dryRun: dryRun, decisions: decisions, leftovers: leftovers, untouched: untouched)
    }
}

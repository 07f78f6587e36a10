import BackupModel
import BackupPOSIX

/// The backups under a backup path as their plain `manifest.json` files describe them: nothing here is
/// authenticated. It serves `list` and checksum-only `verify` without the security password, and
/// the one backup restored on purpose without authentication (`--allow-unauthenticated`); everything
/// that deletes, chooses or restores goes through `AuthenticatedCatalog`. Memory stays bounded whatever
/// the store holds: manifests are read one at a time and only a bounded summary of each is kept.
public struct BackupCatalog: Sendable {
    /// One backup's whole plain manifest.
    public struct Entry: Sendable {
        public var name: String
        public var index: BackupIndex
    }

    /// What a listing shows of one backup: bounded, whatever the manifest holds.
    public struct Summary: Sendable {
        public var name: String
        public var created: String
        public var createdEpoch: Int64
        public var appliance: String
        public var toolVersion: String
        /// At most `componentsShown` names each.
        public var components: [String]
        public var failedComponents: [String]
        public var bytes: UInt64
        /// The key the plain manifest says the backup needs (a hint: unauthenticated).
        public var keyID: String? = nil
    }

    /// An entry under the backup path that is not a usable backup.
    public struct Ignored: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var reason: String
        /// Names come from the store: escaped, so they cannot forge lines or move a terminal's cursor.
        public var description: String { "\(SafeText.escaped(self.name, limit: 200)) (\(SafeText.escaped(self.reason)))" }
    }

    /// Complete backups by their plain manifests, oldest first by the plain (unauthenticated) time.
    public var backups: [Summary]
    public var ignored: [Ignored]

    /// The most entries a backup path may hold before listing it is refused (each costs a read).
    public static let entryLimit = 10_000
    /// The most component names a summary keeps.
    static let componentsShown = 64

    /// Reads the listing and every complete backup's plain manifest. Blocking.
    public static func read(_ store: any BackupStore) throws -> BackupCatalog {
        try self.read(store, entries: try store.listEntries())
    }

    /// The same, from a listing already made (one listing where a caller needs it too).
    public static func read(_ store: any BackupStore, entries: [StoredEntry]) throws -> BackupCatalog {
        var backups: [Summary] = []
        var ignored: [Ignored] = []
        for entry in entries {
            switch entry.kind {
            case .temporary:
                ignored.append(Ignored(name: entry.name, reason: "temporary: a backup being written or interrupted"))
            case .incomplete:
                ignored.append(Ignored(name: entry.name, reason: "incomplete: no \(BackupIndex.fileName)"))
            case .foreign:
                ignored.append(Ignored(name: entry.name, reason: "not a backup directory"))
            case .complete:
                do {
                    let index = try BackupIndex.decode(try store.readIndex(backup: entry.name), backup: entry.name)
                    let ok = index.components.filter { $0.outcome == "ok" }
                    backups.append(Summary(
                        name: entry.name, created: String(index.created.prefix(40)), createdEpoch: index.createdEpoch,
                        appliance: String(index.manifest.appliance.prefix(80)), toolVersion: String(index.toolVersion.prefix(40)),
                        components: ok.prefix(Self.componentsShown).map(\.name),
                        failedComponents: index.components.filter { $0.outcome != "ok" }.prefix(Self.componentsShown).map(\.name),
                        bytes: ok.compactMap(\.size).reduce(0) { $0.addingReportingOverflow($1).overflow ? $0 : $0 + $1 }, keyID: index.keyID))
                } catch {
                    ignored.append(Ignored(name: entry.name, reason: "unreadable \(BackupIndex.fileName): \(BackupError.wrap(error).message)"))
                }
                if backups.count + ignored.count > Self.entryLimit {
                    throw BackupError(.storage, "\(store.displayName) holds more than \(Self.entryLimit) entries; refusing to read them all")
                }
            }
        }
        backups.sort { ($0.createdEpoch, $0.name) < ($1.createdEpoch, $1.name) }
        return BackupCatalog(backups: backups, ignored: ignored)
    }

    /// The whole plain manifest of the complete backup `name`. Blocking.
    public static func entry(named name: String, in store: any BackupStore, entries: [StoredEntry]) throws -> Entry {
        guard let listed = entries.first(where: { $0.name == name }) else {
            throw BackupError(.notFound, "no backup called \(SafeText.escaped(name)) in \(store.displayName)")
        }
        guard listed.kind == .complete else {
            throw BackupError(.notFound, "\(SafeText.escaped(name)) in \(store.displayName) is not a complete backup (no \(BackupIndex.fileName))")
        }
        return Entry(name: name, index: try BackupIndex.decode(try store.readIndex(backup: name), backup: name))
    }

    /// The backup called `name`, or the one whose plain manifest says it is the newest (unauthenticated:
    /// for checksum-only verification). Blocking.
    public func choose(_ name: String?, store: any BackupStore) throws -> Entry {
        if let name {
            guard self.backups.contains(where: { $0.name == name }) else {
                if let ignored = self.ignored.first(where: { $0.name == name }) {
                    throw BackupError(.notFound, "\(SafeText.escaped(name)) in \(store.displayName) is not a complete backup: \(SafeText.escaped(ignored.reason))")
                }
                throw BackupError(.notFound, "no backup called \(SafeText.escaped(name)) in \(store.displayName)")
            }
            return Entry(name: name, index: try BackupIndex.decode(try store.readIndex(backup: name), backup: name))
        }
        guard let newest = self.backups.last else {
            let note = self.ignoredNote.map { "; " + $0 } ?? ""
            throw BackupError(.notFound, "no complete backup in \(store.displayName)\(note)")
        }
        return Entry(name: newest.name, index: try BackupIndex.decode(try store.readIndex(backup: newest.name), backup: newest.name))
    }

    /// A sentence about ignored entries, or nil when there were none.
    public var ignoredNote: String? {
        guard !self.ignored.isEmpty else { return nil }
        // Bounded: a path full of other things must not flood the status.
        let shown = self.ignored.prefix(10).map(\.description).joined(separator: ", ")
        return "ignored " + shown + (self.ignored.count > 10 ? " and \(self.ignored.count - 10) more" : "")
    }
}

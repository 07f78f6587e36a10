/// The backups under a backup path: the complete ones, oldest first, and what was ignored and why.
public struct BackupCatalog: Sendable {
    /// A complete backup and its index.
    public struct Entry: Sendable {
        public var name: String
        public var index: BackupIndex
    }

    /// An entry under the backup path that is not a usable backup.
    public struct Ignored: Sendable, Equatable, CustomStringConvertible {
        public var name: String
        public var reason: String
        /// Names come from the store: escaped, so they cannot forge lines or move a terminal's cursor.
        public var description: String { "\(SafeText.escaped(self.name, limit: 200)) (\(SafeText.escaped(self.reason)))" }
    }

    /// Complete backups, oldest first.
    public var backups: [Entry]
    public var ignored: [Ignored]

    /// The most entries a backup path may hold before listing it is refused (each costs a read).
    public static let entryLimit = 10_000

    /// Reads the listing and every complete backup's plain manifest. Blocking. Nothing here is
    /// authenticated: restore and verify go on through `BackupAuthenticator`.
    public static func read(_ store: any BackupStore) throws -> BackupCatalog {
        try self.read(store, entries: try store.listEntries())
    }

    /// The same, from a listing already made (one listing where a caller needs it too).
    public static func read(_ store: any BackupStore, entries: [StoredEntry]) throws -> BackupCatalog {
        var backups: [Entry] = []
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
                    backups.append(Entry(name: entry.name, index: index))
                } catch {
                    ignored.append(Ignored(name: entry.name, reason: "unreadable \(BackupIndex.fileName): \(BackupError.wrap(error).message)"))
                }
                if backups.count + ignored.count > Self.entryLimit {
                    throw BackupError(.storage, "\(store.displayName) holds more than \(Self.entryLimit) entries; refusing to read them all")
                }
            }
        }
        backups.sort { ($0.index.createdEpoch, $0.name) < ($1.index.createdEpoch, $1.name) }
        return BackupCatalog(backups: backups, ignored: ignored)
    }

    /// The backup called `name`, or the newest complete one.
    public func choose(_ name: String?, store: any BackupStore) throws -> Entry {
        if let name {
            guard let entry = self.backups.first(where: { $0.name == name }) else {
                if let ignored = self.ignored.first(where: { $0.name == name }) {
                    throw BackupError(.notFound, "\(SafeText.escaped(name)) in \(store.displayName) is not a complete backup: \(SafeText.escaped(ignored.reason))")
                }
                throw BackupError(.notFound, "no backup called \(SafeText.escaped(name)) in \(store.displayName)")
            }
            return entry
        }
        guard let newest = self.backups.last else {
            let note = self.ignoredNote.map { "; " + $0 } ?? ""
            throw BackupError(.notFound, "no complete backup in \(store.displayName)\(note)")
        }
        return newest
    }

    /// A sentence about ignored entries, or nil when there were none.
    public var ignoredNote: String? {
        guard !self.ignored.isEmpty else { return nil }
        // Bounded: a path full of other things must not flood the status.
        let shown = self.ignored.prefix(10).map(\.description).joined(separator: ", ")
        return "ignored " + shown + (self.ignored.count > 10 ? " and \(self.ignored.count - 10) more" : "")
    }
}

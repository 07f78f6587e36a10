import BackupModel
import BackupPOSIX
import Foundation

/// `STATE/untrusted-backups.json`: backups this appliance committed and then could not read back as
/// written ("committed but must not be trusted"). Their index may still open, so only this local,
/// trusted record keeps the catalog from counting one as the newest: restore does not take it
/// without being told, and retention neither counts it nor deletes it. The newest 100 are kept.
public struct UntrustedBackups: Codable, Equatable, Sendable {
    public static let fileName = "untrusted-backups.json"
    static let limit = 100

    /// One backup, by the store it is in and its name.
    public struct Entry: Codable, Equatable, Sendable {
        public var store: String
        public var name: String
        public var reason: String
    }

    public var entries: [Entry] = []

    /// The record in `stateDirectory` (empty when there is none or it cannot be read).
    public static func read(in stateDirectory: String) -> UntrustedBackups {
        guard let data = try? FileTree.readFile(stateDirectory + "/" + Self.fileName, limit: 1 << 20),
            let record = try? JSONDecoder().decode(UntrustedBackups.self, from: data)
        else { return UntrustedBackups() }
        return record
    }

    /// Adds `name` in `store` to the record in `stateDirectory`.
    public static func add(store: String, name: String, reason: String, in stateDirectory: String) throws {
        var record = Self.read(in: stateDirectory)
        record.entries.removeAll { $0.store == store && $0.name == name }
        record.entries.append(Entry(store: store, name: name, reason: String(reason.prefix(500))))
        record.entries = Array(record.entries.suffix(Self.limit))
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(record), to: stateDirectory + "/" + Self.fileName)
    }

    /// Why `name` in `store` must not be trusted, or nil.
    public func reason(store: String, name: String) -> String? {
        self.entries.last { $0.store == store && $0.name == name }?.reason
    }
}

import BackupModel
import BackupPOSIX
import Foundation

/// Decrypts a component of an authenticated backup into a staging directory, as restore, a
/// preview and `gwbackup diff` need it: decrypted into a spool beside the directory, authenticated
/// (size, SHA-256, gpg's integrity check), then decompressed and extracted within the index's bounds.
struct ComponentUnpacker: Sendable {
    var store: any BackupStore
    var cipher: any PayloadCipher
    var archive: any ArchiveFormat
    var decompressors: [String: any PayloadCompression]
    var passphrase: Secret

    /// Unpacks `component` of `backup` into `directory` (an empty directory of a private staging
    /// area; the spool goes beside it). Returns the encrypted bytes read.
    func unpack(_ component: SealedIndex.Component, backup: String, into directory: String) async throws -> UInt64 {
        let decryptor = ComponentDecryptor(store: self.store, cipher: self.cipher, passphrase: self.passphrase)
        let archive = self.archive
        let decompression = try Orchestrator.decompression(named: component.compression, in: self.decompressors)
        // Beside the component's data, in its private staging: the authenticated plaintext waits there.
        let spool = (directory as NSString).deletingLastPathComponent + "/plaintext.spool"
        try Self.checkSpace(for: component, in: directory)
        let summary = try await Blocking.run("gwbackup.decrypt") { () -> ArchiveSummary in
            let (_, summary) = try StreamPipe.run(
                produce: { pipe in try decryptor.decrypt(backup: backup, component: component, into: pipe, decompression: decompression, spool: spool) },
                consume: { source in
                    try archive.extract(from: source, into: URL(fileURLWithPath: directory), limits: ArchiveLimits(entries: component.entries, contentBytes: component.contentBytes))
                })
            return summary
        }
        if let expected = component.entries, expected != summary.entryCount {
            throw BackupError(.corrupted, "the archive holds \(summary.entryCount) entries but the backup recorded \(expected)")
        }
        return component.size ?? 0
    }

    /// Throws unless staging can take `component` (its spooled plaintext and its authenticated content)
    /// and still leave a reserve: a component never fills the disk the appliance runs on.
    static func checkSpace(for component: SealedIndex.Component, in directory: String) throws {
        let reserve: UInt64 = 64 << 20
        let needed = (component.size ?? 0).addingReportingOverflow(component.contentBytes ?? 0)
        let free = try FileTree.freeBytes(at: directory)
        guard !needed.overflow, needed.partialValue <= free - min(free, reserve) else {
            throw BackupError(
                .storage,
                "staging has \(free) bytes free; this component needs \(needed.overflow ? UInt64.max : needed.partialValue) (its file and its content) and \(reserve) are kept in reserve",
                component: component.name)
        }
    }
}

extension Orchestrator {
    /// The unpacker for a backup of `store` opened with `passphrase`.
    func unpacker(store: any BackupStore, passphrase: Secret) -> ComponentUnpacker {
        ComponentUnpacker(store: store, cipher: self.cipher, archive: self.archive, decompressors: self.decompressors, passphrase: passphrase)
    }
}

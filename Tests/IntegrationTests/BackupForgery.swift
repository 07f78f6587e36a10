@testable import BackupArchive
import BackupCompression
import BackupCore
import BackupModel
import BackupPOSIX
import BackupCrypto
import Crypto
import Foundation
import GatewayBackupTestSupport

/// Crafts a committed backup the way someone who controls the store would: rewriting the plain
/// manifest (anyone), or, knowing the security password, re-encrypting components and re-sealing the
/// authenticated index so that everything authenticates.
struct BackupForgery {
    let directory: String
    let password: Secret

    var name: String { (self.directory as NSString).lastPathComponent }

    init(_ directory: String, password: Secret) {
        self.directory = directory
        self.password = password
    }

    func plain() throws -> BackupIndex {
        try JSONDecoder().decode(BackupIndex.self, from: FileTree.readFile(self.directory + "/" + BackupIndex.fileName))
    }

    func writePlain(_ index: BackupIndex) throws {
        try Self.replaceFile(self.directory + "/" + BackupIndex.fileName, with: try JSONCoding.encoder().encode(index))
    }

    func sealed() throws -> SealedIndex {
        let sink = MemorySink()
        try GPGSymmetricCipher().decrypt(from: MemorySource(try FileTree.readFile(self.directory + "/" + SealedIndex.fileName)), to: sink, passphrase: self.password)
        return try JSONDecoder().decode(SealedIndex.self, from: sink.data)
    }

    func writeSealed(_ index: SealedIndex) throws {
        try Self.replaceFile(self.directory + "/" + SealedIndex.fileName, with: try self.encrypt(try JSONCoding.encoder().encode(index)))
    }

    /// Replaces `component`'s archive with `tar`, compressed as the backup's was and encrypted with
    /// the password, and records the new file in both indexes so that it authenticates.
    /// `entries`/`contentBytes` default to the truth.
    func replaceComponent(_ component: String, tar: [UInt8], entries: Int? = nil, contentBytes: UInt64? = nil) throws {
        let compressed = try self.plain().components.first { $0.name == component }?.compression == "zstd"
        let encrypted = try self.encrypt(compressed ? try Self.zstd(Data(tar)) : Data(tar))
        let file = component + (compressed ? ".tar.zst.gpg" : ".tar.gpg")
        try Self.replaceFile(self.directory + "/" + file, with: encrypted)
        // An archive the extractor refuses has no summary; the caller then says what the index records.
        let summary = (try? TarArchive().validate(from: MemorySource(Data(tar)))) ?? ArchiveSummary(entryCount: 0, contentBytes: 0)
        let digest = SHA256.hash(data: encrypted).map { String(format: "%02x", $0) }.joined()
        var plain = try self.plain()
        var sealed = try self.sealed()
        for position in plain.components.indices where plain.components[position].name == component {
            plain.components[position].size = UInt64(encrypted.count)
            plain.components[position].sha256 = digest
            plain.components[position].fileCount = entries ?? summary.entryCount
            plain.components[position].contentBytes = contentBytes ?? summary.contentBytes
        }
        for position in sealed.components.indices where sealed.components[position].name == component {
            sealed.components[position].size = UInt64(encrypted.count)
            sealed.components[position].sha256 = digest
            sealed.components[position].entries = entries ?? summary.entryCount
            sealed.components[position].contentBytes = contentBytes ?? summary.contentBytes
        }
        try self.writePlain(plain)
        try self.writeSealed(sealed)
    }

    /// Replaces `component`'s file with `bytes` as they are (not encrypted by us) and records their size
    /// and SHA-256 in both indexes: the forger with the password who makes any bytes "authentic".
    func replaceFileRecorded(_ component: String, with bytes: Data) throws {
        var plain = try self.plain()
        guard let file = plain.components.first(where: { $0.name == component })?.file else {
            throw BackupError(.notFound, "no file for component \(component)")
        }
        try Self.replaceFile(self.directory + "/" + file, with: bytes)
        let digest = SHA256.hash(data: bytes).map { String(format: "%02x", $0) }.joined()
        var sealed = try self.sealed()
        for position in sealed.components.indices where sealed.components[position].name == component {
            sealed.components[position].size = UInt64(bytes.count)
            sealed.components[position].sha256 = digest
        }
        for position in plain.components.indices where plain.components[position].name == component {
            plain.components[position].size = UInt64(bytes.count)
            plain.components[position].sha256 = digest
        }
        try self.writeSealed(sealed)
        try self.writePlain(plain)
    }

    /// Decrypts and unpacks `component` into a directory, lets `change` edit it, and puts it back
    /// archived, encrypted and recorded (the attacker who knows the password).
    func editComponent(_ component: String, scratch: String, _ change: (String) throws -> Void) throws {
        let tree = scratch + "/" + component + "-" + UUID().uuidString.prefix(6)
        try FileTree.makePrivateDirectory(tree)
        let sink = MemorySink()
        let compressed = try self.plain().components.first { $0.name == component }?.compression == "zstd"
        let file = self.directory + "/" + component + (compressed ? ".tar.zst.gpg" : ".tar.gpg")
        if compressed {
            let decompressing = try ZstdCompression().decompressor(into: sink)
            try GPGSymmetricCipher().decrypt(from: MemorySource(try FileTree.readFile(file)), to: decompressing, passphrase: self.password)
            try decompressing.finish()
        } else {
            try GPGSymmetricCipher().decrypt(from: MemorySource(try FileTree.readFile(file)), to: sink, passphrase: self.password)
        }
        _ = try TarArchive().extract(from: MemorySource(sink.data), into: URL(fileURLWithPath: tree))
        try change(tree)
        let archived = MemorySink()
        _ = try TarArchive().archive(directory: URL(fileURLWithPath: tree), to: archived)
        try self.replaceComponent(component, tar: [UInt8](archived.data))
    }

    static func zstd(_ data: Data) throws -> Data {
        let sink = MemorySink()
        let compressing = try ZstdCompression().compressor(into: sink)
        try data.withUnsafeBytes { try compressing.write($0) }
        try compressing.finish()
        return sink.data
    }

    func encrypt(_ data: Data) throws -> Data {
        let sink = MemorySink()
        try GPGSymmetricCipher().encrypt(from: MemorySource(data), to: sink, passphrase: self.password)
        return sink.data
    }

    static func replaceFile(_ path: String, with data: Data) throws {
        try FileTree.remove(path)
        try FileTree.writeAtomically(data, to: path)
    }

    /// A tar stream of `entries` (regular files unless a type is given), with the end marker.
    static func tar(_ entries: [TarEntry]) -> [UInt8] {
        var bytes: [UInt8] = []
        for entry in entries {
            let content = Array(entry.content.utf8)
            bytes += TarHeader(
                name: entry.name, mode: entry.mode, uid: 0, gid: 0, size: UInt64(entry.type == .regular ? content.count : 0), mtime: 1_700_000_000,
                typeFlag: entry.type.rawValue, linkName: entry.link
            ).encode()
            if entry.type == .regular {
                bytes += content + [UInt8](repeating: 0, count: TarHeader.padding(UInt64(content.count)))
            }
        }
        return bytes + [UInt8](repeating: 0, count: 1024)
    }

    /// One entry of a crafted archive.
    struct TarEntry {
        var name: String
        var content: String = ""
        var type: TarHeader.EntryType = .regular
        var link: String = ""
        var mode: UInt32 = 0o644
    }
}

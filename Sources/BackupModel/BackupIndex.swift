import Foundation

/// A backup's plain `manifest.json`: written last, it is what makes a backup complete. It serves
/// listing and stock tools; restore and verify believe it only where it agrees with the backup's
/// authenticated `SealedIndex`. Documented in `docs/format.md`.
public struct BackupIndex: Codable, Sendable, Equatable {
    /// The file name in every backup directory.
    public static let fileName = "manifest.json"
    /// The format this build writes: 2 adds the authenticated index (`index.json.gpg`).
    public static let currentFormat = 2
    /// The formats this build reads. Format 1 has no authenticated index.
    public static let readableFormats = 1...2

    /// One component's record.
    public struct Component: Codable, Sendable, Equatable {
        public var name: String
        public var plugin: String
        public var pluginVersion: String
        public var tags: [String]
        public var optional: Bool
        /// `ok` or `failed` (an optional component that failed; it has no file).
        public var outcome: String
        /// The encrypted archive's file name, e.g. `config.tar.gpg`.
        public var file: String?
        /// The encrypted file's size in bytes.
        public var size: UInt64?
        /// The encrypted file's SHA-256, lowercase hex.
        public var sha256: String?
        /// Entries (files, directories, links) in the archive.
        public var fileCount: Int?
        /// Bytes of file content before encryption.
        public var contentBytes: UInt64?
        /// What sits between tar and OpenPGP (format 2): `none`.
        public var compression: String?
        public var message: String?
        public var warnings: [String]

        public init(name: String, plugin: String, pluginVersion: String, tags: [String], optional: Bool, outcome: String, file: String? = nil, size: UInt64? = nil, sha256: String? = nil, fileCount: Int? = nil, contentBytes: UInt64? = nil, compression: String? = nil, message: String? = nil, warnings: [String] = []) {
            self.name = name
            self.plugin = plugin
            self.pluginVersion = pluginVersion
            self.tags = tags
            self.optional = optional
            self.outcome = outcome
            self.file = file
            self.size = size
            self.sha256 = sha256
            self.fileCount = fileCount
            self.contentBytes = contentBytes
            self.compression = compression
            self.message = message
            self.warnings = warnings
        }
    }

    /// How component files are encrypted.
    public struct Encryption: Codable, Sendable, Equatable {
        public var format: String
        public var cipher: String
        public var integrity: String

        public static let openPGPSymmetric = Encryption(format: "openpgp-symmetric", cipher: "AES256", integrity: "mdc")
    }

    public var formatVersion: Int
    public var tool: String
    public var toolVersion: String
    public var name: String
    /// When the backup started, ISO 8601 UTC.
    public var created: String
    /// The same, in epoch seconds.
    public var createdEpoch: Int64
    /// The machine the backup was taken on.
    public var sourceHost: String
    public var applianceRoot: String
    public var encryption: Encryption
    /// The manifest the backup was taken with, for people and stock tools. Restore never uses it: the
    /// appliance's own manifest decides which plugin restores a component, with which parameters.
    public var manifest: Manifest
    public var components: [Component]
    /// The key identifier the authenticated index records (`KeyIdentifier`), repeated here as a hint
    /// for `list` without the password; nil before 0.3.0.
    public var keyID: String?
    /// The file name of a rotation's new plain manifest, before it takes the place of `fileName`.
    public static let pendingFileName = "manifest.next.json"

    public init(formatVersion: Int, tool: String, toolVersion: String, name: String, created: String, createdEpoch: Int64, sourceHost: String, applianceRoot: String, encryption: Encryption, manifest: Manifest, components: [Component], keyID: String? = nil) {
        self.formatVersion = formatVersion
        self.tool = tool
        self.toolVersion = toolVersion
        self.name = name
        self.created = created
        self.createdEpoch = createdEpoch
        self.sourceHost = sourceHost
        self.applianceRoot = applianceRoot
        self.encryption = encryption
        self.manifest = manifest
        self.components = components
        self.keyID = keyID
    }

    /// Decodes and checks a plain manifest read from a store: a known format, component names by
    /// the manifest's rule, safe file names.
    public static func decode(_ bytes: [UInt8], backup: String) throws -> BackupIndex {
        let index: BackupIndex
        do {
            index = try JSONDecoder().decode(BackupIndex.self, from: Data(bytes))
        } catch {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): \(fileName) is not valid: \(SafeText.escaped(JSONCoding.describe(error)))")
        }
        guard readableFormats.contains(index.formatVersion) else {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)) has format \(index.formatVersion); this build reads formats \(readableFormats.lowerBound)-\(readableFormats.upperBound)")
        }
        if let keyID = index.keyID, !KeyIdentifier.isValid(keyID) {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): \(fileName) names the key '\(SafeText.escaped(keyID, limit: 40))', which is not a key identifier")
        }
        try SealedIndex.check(index.components.map(SealedIndex.Component.init), backup: backup, keyID: index.keyID)
        return index
    }

    /// True when this backup should carry an authenticated index.
    public var hasSealedIndex: Bool { self.formatVersion >= 2 }
}

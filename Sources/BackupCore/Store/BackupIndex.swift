import Foundation

/// A backup's `manifest.json`: written last, it is what makes a backup complete.
/// Documented in `docs/format.md`.
public struct BackupIndex: Codable, Sendable, Equatable {
    /// The file name in every backup directory.
    public static let fileName = "manifest.json"
    /// The format this build writes; it reads this one only.
    public static let currentFormat = 1

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
        public var message: String?
        public var warnings: [String]

        public init(name: String, plugin: String, pluginVersion: String, tags: [String], optional: Bool, outcome: String, file: String? = nil, size: UInt64? = nil, sha256: String? = nil, fileCount: Int? = nil, contentBytes: UInt64? = nil, message: String? = nil, warnings: [String] = []) {
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
    /// The manifest the backup was taken with; restore uses its parameters.
    public var manifest: Manifest
    public var components: [Component]

    /// Decodes and checks an index read from a store.
    public static func decode(_ bytes: [UInt8], backup: String) throws -> BackupIndex {
        let index: BackupIndex
        do {
            index = try JSONDecoder().decode(BackupIndex.self, from: Data(bytes))
        } catch {
            throw BackupError(.corrupted, "backup \(backup): \(fileName) is not valid: \(JSONCoding.describe(error))")
        }
        guard index.formatVersion == currentFormat else {
            throw BackupError(.corrupted, "backup \(backup) has format \(index.formatVersion); this build reads format \(currentFormat)")
        }
        for component in index.components {
            if let file = component.file, file.contains("/") || file.hasPrefix(".") {
                throw BackupError(.corrupted, "backup \(backup): component \(component.name) names an unsafe file '\(file)'")
            }
        }
        return index
    }
}

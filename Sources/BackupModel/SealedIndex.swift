import Foundation

/// A backup's authenticated index, `index.json.gpg`: what restore and verify rely on, encrypted and
/// integrity-protected with the security password like the components, and written before the plain
/// `manifest.json`. Whoever controls the store without the password can delete or damage it, never
/// forge it; a backup renamed to look newer is caught because the index names its backup.
/// Documented in `docs/format.md` and `docs/security.md`.
public struct SealedIndex: Codable, Sendable, Equatable {
    /// The file name in every format 2 backup.
    public static let fileName = "index.json.gpg"
    /// The most an index may take, encrypted or decrypted: far above any real one (a few KiB).
    public static let sizeLimit = 4 << 20
    /// The most components an index may list.
    public static let componentLimit = 1024

    /// One component as the backup stored it.
    public struct Component: Codable, Sendable, Equatable {
        public var name: String
        /// The plugin that collected it, and its version.
        public var plugin: String
        public var pluginVersion: String
        /// `ok`, or `failed` for an optional component that has no file.
        public var outcome: String
        /// The encrypted archive's file name.
        public var file: String?
        /// The encrypted file's size and SHA-256 (lowercase hex).
        public var size: UInt64?
        public var sha256: String?
        /// Entries and bytes of file content in the archive: extraction stops beyond them.
        public var entries: Int?
        public var contentBytes: UInt64?
        /// What sits between tar and OpenPGP: `zstd` (format 2's default) or `none`.
        public var compression: String

        public init(name: String, plugin: String, pluginVersion: String, outcome: String, file: String? = nil, size: UInt64? = nil, sha256: String? = nil, entries: Int? = nil, contentBytes: UInt64? = nil, compression: String = "none") {
            self.name = name
            self.plugin = plugin
            self.pluginVersion = pluginVersion
            self.outcome = outcome
            self.file = file
            self.size = size
            self.sha256 = sha256
            self.entries = entries
            self.contentBytes = contentBytes
            self.compression = compression
        }

        /// The component as the plain manifest records it (the same fields).
        package init(_ plain: BackupIndex.Component) {
            self.init(
                name: plain.name, plugin: plain.plugin, pluginVersion: plain.pluginVersion, outcome: plain.outcome, file: plain.file,
                size: plain.size, sha256: plain.sha256, entries: plain.fileCount, contentBytes: plain.contentBytes,
                compression: plain.compression ?? "none")
        }
    }

    public var format: Int
    /// The backup's directory name: an index found under another name is refused.
    public var name: String
    /// When the backup started, ISO 8601 UTC and epoch seconds.
    public var created: String
    public var createdEpoch: Int64
    /// The appliance kind of the manifest it was taken with.
    public var appliance: String
    public var components: [Component]
    /// The identifier of the appliance that took it (`ApplianceIdentity`); nil in backups written
    /// before indexes carried it (gwbackup 0.1).
    public var applianceID: String?
    /// That appliance's hostname when it took the backup, for people.
    public var hostname: String?
    /// Which security password encrypts this backup (`KeyIdentifier`); nil in backups written before
    /// 0.3.0. A rotation (`gwbackup rekey`) changes it with the password.
    public var keyID: String?
    /// The fingerprints of the recovery keys every file of the backup is also encrypted to
    /// (`--recipient-key`); nil when none.
    public var recipients: [String]?
    /// The file name of a rotation's new index, before it takes the place of `fileName`: while a
    /// rotation is committed but not finished, `fileName` is missing and this one is the index.
    public static let pendingFileName = "index.next.json.gpg"

    public init(format: Int = BackupIndex.currentFormat, name: String, created: String, createdEpoch: Int64, appliance: String, components: [Component], applianceID: String? = nil, hostname: String? = nil) {
        self.format = format
        self.name = name
        self.created = created
        self.createdEpoch = createdEpoch
        self.appliance = appliance
        self.components = components
        self.applianceID = applianceID
        self.hostname = hostname
    }

    /// The index a plain `manifest.json` describes, for a backup restored without authentication
    /// (`--allow-unauthenticated`): the same checks, none of the guarantees.
    public init(unauthenticated plain: BackupIndex) {
        self.init(
            format: plain.formatVersion, name: plain.name, created: plain.created, createdEpoch: plain.createdEpoch,
            appliance: plain.manifest.appliance, components: plain.components.map(Component.init))
        self.keyID = plain.keyID
    }

    /// Decodes a decrypted index and checks it: known format, the expected backup name, component
    /// names by the manifest's rule, safe file names, bounded counts.
    public static func decode(_ bytes: [UInt8], backup: String) throws -> SealedIndex {
        let index: SealedIndex
        do {
            index = try JSONDecoder().decode(SealedIndex.self, from: Data(bytes))
        } catch {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): \(fileName) is not valid: \(SafeText.escaped(JSONCoding.describe(error)))")
        }
        guard index.format == BackupIndex.currentFormat else {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): \(fileName) has format \(index.format); this build reads format \(BackupIndex.currentFormat)")
        }
        guard index.name == backup else {
            throw BackupError(
                .unauthenticated,
                "backup \(SafeText.escaped(backup)) carries the authenticated index of backup \(SafeText.escaped(index.name)): it was renamed or copied; refusing it")
        }
        if let keyID = index.keyID, !KeyIdentifier.isValid(keyID) {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): its index names the key '\(SafeText.escaped(keyID, limit: 40))', which is not a key identifier")
        }
        if let recipients = index.recipients, recipients.count > 64 || recipients.contains(where: { $0.utf8.count > 64 || !$0.utf8.allSatisfy { (48...57).contains($0) || (65...70).contains($0) } }) {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): its index names recipients that are not key fingerprints")
        }
        try Self.check(index.components, backup: backup, keyID: index.keyID)
        if let id = index.applianceID, !ApplianceIdentity.isValid(id) {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): its index names the appliance '\(SafeText.escaped(id, limit: 80))', which is not an appliance identifier")
        }
        if let hostname = index.hostname, hostname.utf8.count > 253 || hostname.unicodeScalars.contains(where: { $0.value <= 0x20 || $0.value >= 0x7f }) {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): its index names a hostname that is not one")
        }
        return index
    }

    /// Checks component records from either index: names, files, counts.
    package static func check(_ components: [Component], backup: String, keyID: String?) throws {
        guard components.count <= componentLimit else {
            throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)) lists \(components.count) components (at most \(componentLimit))")
        }
        var seen: Set<String> = []
        for component in components {
            guard ManifestComponent.isValidName(component.name) else {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)) names a component '\(SafeText.escaped(component.name, limit: 80))', which is not a valid component name")
            }
            guard seen.insert(component.name).inserted else {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)) lists component \(component.name) twice")
            }
            guard component.outcome == "ok" || component.outcome == "failed" else {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): component \(component.name) has an unknown outcome")
            }
            let suffixes = ["none": ".tar.gpg", "zstd": ".tar.zst.gpg"]
            guard let suffix = suffixes[component.compression] else {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): component \(component.name) uses compression '\(SafeText.escaped(component.compression, limit: 40))', which this build cannot read")
            }
            // `<name>.tar.zst.gpg`, or, once rotated, `<name>.<key>.tar.zst.gpg` (the new file beside the old).
            if let file = component.file, file != component.name + suffix, keyID.map({ file != component.name + "." + $0 + suffix }) ?? true {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): component \(component.name) names the file '\(SafeText.escaped(file, limit: 80))' instead of \(component.name + suffix)")
            }
            if let entries = component.entries, entries < 0 {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)): component \(component.name) has a negative entry count")
            }
            if component.outcome == "ok" && (component.file == nil || component.size == nil || component.sha256 == nil) {
                throw BackupError(.corrupted, "backup \(SafeText.escaped(backup)) records no file, size or checksum for component \(component.name)")
            }
        }
    }

    /// Throws unless the plain `manifest.json` says what this authenticated index says: a tampered
    /// plain manifest is reported, never half-believed.
    public func check(agreesWith plain: BackupIndex) throws {
        func disagree(_ what: String) -> BackupError {
            BackupError(.unauthenticated, "backup \(SafeText.escaped(self.name)): its plain \(BackupIndex.fileName) does not agree with its authenticated index (\(what)); the store's copy was altered")
        }
        guard plain.name == self.name else { throw disagree("name") }
        guard plain.createdEpoch == self.createdEpoch else { throw disagree("creation time") }
        guard plain.components.map(\.name) == self.components.map(\.name) else { throw disagree("component list") }
        guard plain.keyID == self.keyID else { throw disagree("key") }
        for (plainComponent, sealed) in zip(plain.components, self.components) where Component(plainComponent) != sealed {
            throw disagree("component \(sealed.name)")
        }
    }

    /// The component called `name`.
    public func component(named name: String) -> Component? {
        self.components.first { $0.name == name }
    }
}

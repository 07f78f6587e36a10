import BackupModel
import BackupPOSIX

/// A backup that restore and verify may rely on: its authenticated index, and the plain manifest that
/// agrees with it.
public struct AuthenticatedBackup: Sendable {
    /// The backup's directory name (the index names the same).
    public var name: String
    /// What the security password authenticated, or, for a backup restored without authentication,
    /// what its plain manifest says.
    public var index: SealedIndex
    /// The plain `manifest.json`.
    public var plain: BackupIndex
    /// False only for a backup taken with `--allow-unauthenticated` (format 1, or an index missing).
    public var isAuthenticated: Bool
}

/// Opens a backup's authenticated index with the security password and checks the plain manifest
/// against it. Nothing a restore or a verification relies on is believed before this succeeds.
public struct BackupAuthenticator: Sendable {
    public var store: any BackupStore
    public var cipher: any PayloadCipher
    public var passphrase: Secret

    public init(store: any BackupStore, cipher: any PayloadCipher, passphrase: Secret) {
        self.store = store
        self.cipher = cipher
        self.passphrase = passphrase
    }

    /// Authenticates `entry`. A backup without an index is refused unless `allowUnauthenticated`.
    /// Blocking.
    public func authenticate(_ entry: BackupCatalog.Entry, allowUnauthenticated: Bool) throws -> AuthenticatedBackup {
        let name = SafeText.escaped(entry.name)
        let source: any ByteSource
        do {
            source = try self.store.openSealedIndex(backup: entry.name)
        } catch let error as BackupError where error.code == .notFound {
            guard allowUnauthenticated else {
                let why = entry.index.hasSealedIndex
                    ? "its \(SealedIndex.fileName) is missing"
                    : "it is a format \(entry.index.formatVersion) backup, written before backups carried one"
                throw BackupError(
                    .unauthenticated,
                    "backup \(name) has no authenticated index (\(why)): whoever controls the store could have altered it; restore it only on purpose, with --allow-unauthenticated")
            }
            return AuthenticatedBackup(name: entry.name, index: SealedIndex(unauthenticated: entry.index), plain: entry.index, isAuthenticated: false)
        }
        let limited = LimitedSource(source, limit: UInt64(SealedIndex.sizeLimit))
        let sink = BoundedMemorySink(limit: SealedIndex.sizeLimit, what: "the decrypted index of backup \(name)")
        do {
            try self.cipher.decrypt(from: limited, to: sink, passphrase: self.passphrase)
        } catch {
            let failure = BackupError.wrap(error, as: .cryptoFailed)
            if limited.exceeded {
                throw BackupError(.unauthenticated, "backup \(name): its \(SealedIndex.fileName) is larger than \(SealedIndex.sizeLimit) bytes; refusing it")
            }
            if failure.code == .wrongPassword {
                throw BackupError(.wrongPassword, "backup \(name): \(failure.message)")
            }
            throw BackupError(.unauthenticated, "backup \(name): its authenticated index does not authenticate (\(failure.message)); the store's copy was altered or damaged")
        }
        let index = try SealedIndex.decode(sink.bytes, backup: entry.name)
        let plain = try self.store.plainManifest(agreeingWith: index, backup: entry.name, first: entry.index)
        return AuthenticatedBackup(name: entry.name, index: index, plain: plain, isAuthenticated: true)
    }
}

/// What a backup needs.
public struct BackupRequest: Sendable {
    public var target: StorageTarget
    public var store: any BackupStore
    public var manifest: Manifest
    public var securityPassword: Secret
    /// After the commit, read the whole backup back from the store and decrypt every component
    /// before saying `COMPLETED` (sizes and the index are always checked).
    public var verifyAfterCommit: Bool

    public init(target: StorageTarget, store: any BackupStore, manifest: Manifest, securityPassword: Secret, verifyAfterCommit: Bool = false) {
        self.target = target
        self.store = store
        self.manifest = manifest
        self.securityPassword = securityPassword
        self.verifyAfterCommit = verifyAfterCommit
    }
}

/// What a backup needs.
public struct BackupRequest: Sendable {
    public var target: StorageTarget
    public var store: any BackupStore
    public var manifest: Manifest
    public var securityPassword: Secret

    public init(target: StorageTarget, store: any BackupStore, manifest: Manifest, securityPassword: Secret) {
        self.target = target
        self.store = store
        self.manifest = manifest
        self.securityPassword = securityPassword
    }
}

/// What a restore needs.
public struct RestoreRequest: Sendable {
    public var target: StorageTarget
    public var store: any BackupStore
    public var securityPassword: Secret
    /// Skip every component tagged `cert` (restore onto replacement hardware).
    public var noCert: Bool
    /// Restore only these components (all when empty).
    public var components: [String]
    /// Decrypt and verify everything, change nothing.
    public var dryRun: Bool
    /// A backup by name, instead of the newest complete one.
    public var backup: String?

    public init(target: StorageTarget, store: any BackupStore, securityPassword: Secret, noCert: Bool = false, components: [String] = [], dryRun: Bool = false, backup: String? = nil) {
        self.target = target
        self.store = store
        self.securityPassword = securityPassword
        self.noCert = noCert
        self.components = components
        self.dryRun = dryRun
        self.backup = backup
    }
}

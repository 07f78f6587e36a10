import BackupModel
import BackupPOSIX

/// What a restore needs.
public struct RestoreRequest: Sendable {
    public var target: StorageTarget
    public var store: any BackupStore
    /// The appliance's own manifest: it decides which components exist, which plugin restores each
    /// and with which parameters. A backup only carries data.
    public var manifest: Manifest
    public var securityPassword: Secret
    /// Skip every component tagged `cert` (restore onto replacement hardware).
    public var noCert: Bool
    /// Restore only these components (all when empty).
    public var components: [String]
    /// Decrypt and verify everything, change nothing; each component's record says what a restore
    /// would change (`ComponentResult.changes`).
    public var dryRun: Bool
    /// For a dry run: report the changes from the backup to the appliance as it is now (what changed
    /// since the backup, as `gwbackup diff` shows them) rather than what a restore would change.
    public var previewSinceBackup = false
    /// A backup by name, instead of the newest authenticated one of the appliance.
    public var backup: String?
    /// Whose backups to restore (an `ApplianceIdentity` identifier): by default this appliance's own,
    /// or, on replacement hardware with none, those of the one other appliance found.
    public var appliance: String?
    /// Restore a backup that has no authenticated index (format 1, or its index is missing). Off by
    /// default, and in the API always: such a backup may have been altered by whoever controls the store.
    public var allowUnauthenticated: Bool
    /// A label the caller gives the job (a fleet run's id), kept in its status record.
    public var runID: String?
    /// How many components are decrypted, unpacked and verified at once (nil: one per core). They
    /// are applied one after another, in the manifest's order, whatever this says.
    public var jobs: Int?

    public init(target: StorageTarget, store: any BackupStore, manifest: Manifest, securityPassword: Secret, noCert: Bool = false, components: [String] = [], dryRun: Bool = false, backup: String? = nil, appliance: String? = nil, allowUnauthenticated: Bool = false, runID: String? = nil, jobs: Int? = nil) {
        self.target = target
        self.store = store
        self.manifest = manifest
        self.securityPassword = securityPassword
        self.noCert = noCert
        self.components = components
        self.dryRun = dryRun
        self.backup = backup
        self.appliance = appliance
        self.allowUnauthenticated = allowUnauthenticated
        self.runID = runID
        self.jobs = jobs
    }
}

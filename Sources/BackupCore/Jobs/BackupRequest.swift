import BackupModel
import BackupPOSIX

/// What a backup needs.
public struct BackupRequest: Sendable {
    public var target: StorageTarget
    public var store: any BackupStore
    public var manifest: Manifest
    public var securityPassword: Secret
    /// After the commit, read the whole backup back from the store and decrypt every component
    /// before saying `COMPLETED` (sizes and the index are always checked).
    public var verifyAfterCommit: Bool
    /// A label the caller gives the job (a fleet run's id), kept in its status record; checked by
    /// `JobRecord.isValidRunID`.
    public var runID: String?
    /// How many components are collected, archived, compressed, encrypted and stored at once (nil:
    /// one per core). The backup still commits as one; the index lists components in manifest order.
    public var jobs: Int?

    public init(target: StorageTarget, store: any BackupStore, manifest: Manifest, securityPassword: Secret, verifyAfterCommit: Bool = false, runID: String? = nil, jobs: Int? = nil) {
        self.target = target
        self.store = store
        self.manifest = manifest
        self.securityPassword = securityPassword
        self.verifyAfterCommit = verifyAfterCommit
        self.runID = runID
        self.jobs = jobs
    }
}

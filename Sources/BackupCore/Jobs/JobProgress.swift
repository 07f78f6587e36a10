import BackupModel
import BackupPOSIX

/// A progress event of a running job, for a progress line or the API.
public struct JobProgress: Sendable, Equatable {
    /// `backup`, `restore` or `verify`.
    public var job: String
    /// What is happening, e.g. `collecting`, `encrypting`, `decrypting`, `applying`.
    public var phase: String
    public var component: String?
    public var completedComponents: Int
    public var totalComponents: Int
    /// Bytes moved so far in the current component.
    public var bytes: UInt64

    public init(job: String, phase: String, component: String?, completedComponents: Int, totalComponents: Int, bytes: UInt64) {
        self.job = job
        self.phase = phase
        self.component = component
        self.completedComponents = completedComponents
        self.totalComponents = totalComponents
        self.bytes = bytes
    }
}

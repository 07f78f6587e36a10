import BackupModel
import BackupPOSIX
import Logging

/// What a plugin is asked to do with one component.
public struct PluginContext: Sendable {
    /// The component's name in the manifest.
    public var component: String
    /// The appliance root; every parameter path is relative to it.
    public var applianceRoot: String
    /// A private directory (0700): `collect` fills it, `verify` and `restore` read it.
    public var stagingDirectory: String
    /// The component's parameters from the manifest.
    public var parameters: [String: JSONValue]
    /// True when `restore` puts back the state saved just before a failed restore.
    public var isRollback: Bool
    /// Where the plugin logs; carries the component as metadata.
    public var logger: Logger
    /// Set while the step may be interrupted (a server shutting down); nil for a rollback, which
    /// must run to its end. An external plugin's process group is killed when it fires.
    public var cancellation: JobCancellation?
    /// True when `applianceRoot` is a drill's scratch root (`RestoreDrill`), not the appliance: a
    /// restore there makes no service take anything up (an external plugin's `activate` is not run).
    public var isScratchRoot = false

    public init(component: String, applianceRoot: String, stagingDirectory: String, parameters: [String: JSONValue], isRollback: Bool = false, logger: Logger, cancellation: JobCancellation? = nil) {
        self.component = component
        self.applianceRoot = applianceRoot
        self.stagingDirectory = stagingDirectory
        self.parameters = parameters
        self.isRollback = isRollback
        self.logger = logger
        self.cancellation = cancellation
    }
}

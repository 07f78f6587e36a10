import Logging

/// Where a plugin comes from.
public enum PluginOrigin: Sendable, Equatable, CustomStringConvertible {
    /// Compiled into the binary.
    case builtIn
    /// An external plugin described by `plugin.json` in this directory.
    case external(directory: String)

    public var description: String {
        switch self {
        case .builtIn: "built-in"
        case .external(let directory): directory
        }
    }

    /// `built-in` or `external`.
    public var kindName: String {
        switch self {
        case .builtIn: "built-in"
        case .external: "external"
        }
    }
}

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

/// What a plugin reports after a step that did not fail.
public struct PluginReport: Sendable, Equatable {
    /// Things the operator should know that did not stop the step.
    public var warnings: [String]

    public init(warnings: [String] = []) {
        self.warnings = warnings
    }
}

/// A collector and restorer for one kind of component. Built-in plugins implement it in Swift;
/// `ExternalPlugin` implements it by running a child process (see `docs/plugins.md`).
public protocol ComponentPlugin: Sendable {
    /// The id manifests name, e.g. `fileset`.
    var id: String { get }
    /// The plugin's version, recorded in every backup.
    var version: String { get }
    /// One line for `gwbackup plugins`.
    var summary: String { get }
    /// Where it comes from.
    var origin: PluginOrigin { get }
    /// The parameters it takes.
    var parameterSchema: ParameterSchema { get }
    /// Gathers the component's state from the appliance into `context.stagingDirectory`.
    func collect(_ context: PluginContext) async throws -> PluginReport
    /// Checks staged data before anything on the appliance changes (e.g. a key matches its certificate).
    func verify(_ context: PluginContext) async throws -> PluginReport
    /// Puts the staged state onto the appliance.
    func restore(_ context: PluginContext) async throws -> PluginReport
}

extension ComponentPlugin {
    public func verify(_ context: PluginContext) async throws -> PluginReport { PluginReport() }
}

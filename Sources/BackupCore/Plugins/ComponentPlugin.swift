import BackupModel
import BackupPOSIX
import Logging

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
    /// Whether `verify` checks anything (`gwbackup plugins test` skips its verify rule otherwise).
    var offersVerify: Bool { get }
}

extension ComponentPlugin {
    public func verify(_ context: PluginContext) async throws -> PluginReport { PluginReport() }
    public var offersVerify: Bool { false }
}

import BackupModel
import BackupPOSIX

/// The built-in `fileset` plugin: backs up listed paths and globs, keeping modes, owners, mtimes and
/// symlinks; restores them so the appliance matches the backup.
///
/// Example parameters: `{"paths": ["etc/snmp/snmpd.conf", "etc/flowgateway/*.conf"]}`.
public struct FileSetPlugin: ComponentPlugin {
    public let id = "fileset"
    public let version = "1.0.0"
    public let summary = "Files and directories by path or glob, with modes, owners, mtimes and symlinks"
    public let origin = PluginOrigin.builtIn
    public let parameterSchema = ParameterSchema([
        "paths": .init(type: .array, required: true, path: true, description: "paths or globs relative to the appliance root"),
        "allow_setid": .init(type: .boolean, description: "keep setuid/setgid bits on restored files (default false: removed, with a warning)"),
    ])

    /// Parameters that a test runs, as documentation that cannot go stale.
    public static let exampleParameters: [String: JSONValue] = ["paths": .array([.string("etc/ntp.conf"), .string("etc/ntp/*.keys")])]

    public init() {}

    private func fileSet(_ context: PluginContext) -> FileSet {
        FileSet(patterns: context.parameters["paths"]?.stringArrayValue ?? [], allowSetID: context.parameters["allow_setid"] == .bool(true))
    }

    public func collect(_ context: PluginContext) async throws -> PluginReport {
        let fileSet = self.fileSet(context)
        // A backup links (its staging is archived at once); a pre-restore snapshot copies.
        return try await Blocking.run {
            try fileSet.collect(root: context.applianceRoot, staging: context.stagingDirectory, linkingFiles: !context.isRollback)
        }
    }

    /// Checks the staged record against the declared paths before anything changes.
    public var offersVerify: Bool { true }

    public func verify(_ context: PluginContext) async throws -> PluginReport {
        let fileSet = self.fileSet(context)
        _ = try await Blocking.run { try fileSet.checkStaged(staging: context.stagingDirectory) }
        return PluginReport()
    }

    public func restore(_ context: PluginContext) async throws -> PluginReport {
        let fileSet = self.fileSet(context)
        return try await Blocking.run { try fileSet.restore(root: context.applianceRoot, staging: context.stagingDirectory, isRollback: context.isRollback) }
    }
}

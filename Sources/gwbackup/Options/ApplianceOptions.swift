import ArgumentParser

/// The appliance: its root, its manifest and where plugins are found.
struct ApplianceOptions: ParsableArguments {
    @Option(help: "Manifest listing the components (default: the shipped manifests/flowgateway.json).")
    var manifest: String?

    @Option(help: "Appliance root; every component path is relative to it (default /).")
    var root: String?

    @Option(name: .customLong("plugin-dir"), help: "Another directory of external plugins (repeatable).")
    var pluginDirectories: [String] = []

    @Flag(name: .customLong("no-sandbox"), help: "Run external plugin steps without the sandbox (namespaces, read-only file system): only where the machine cannot make one.")
    var noSandbox = false

    /// Refuses these options for a command sent to a server, which has its own appliance settings.
    func refuseForServer() throws {
        if self.manifest != nil || self.root != nil || !self.pluginDirectories.isEmpty || self.noSandbox {
            throw ValidationError("--manifest, --root, --plugin-dir and --no-sandbox are the server's settings; they do not go with --server")
        }
    }
}

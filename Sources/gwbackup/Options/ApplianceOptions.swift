import ArgumentParser

/// The appliance: its root, its manifest and where plugins are found.
struct ApplianceOptions: ParsableArguments {
    @Option(help: "Manifest listing the components (default: the shipped manifests/flowgateway.json).")
    var manifest: String?

    @Option(help: "Appliance root; every component path is relative to it (default /).")
    var root: String?

    @Option(name: .customLong("plugin-dir"), help: "Another directory of external plugins (repeatable).")
    var pluginDirectories: [String] = []

    /// Refuses these options for a command sent to a server, which has its own appliance settings.
    func refuseForServer() throws {
        if self.manifest != nil || self.root != nil || !self.pluginDirectories.isEmpty {
            throw ValidationError("--manifest, --root and --plugin-dir are the server's settings; they do not go with --server")
        }
    }
}

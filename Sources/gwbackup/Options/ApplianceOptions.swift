import ArgumentParser

/// The appliance: its root, its manifest and where plugins are found.
struct ApplianceOptions: ParsableArguments {
    @Option(help: "Manifest listing the components (default: the shipped manifests/flowgateway.json).")
    var manifest: String?

    @Option(help: "Appliance root; every component path is relative to it.")
    var root: String = "/"

    @Option(name: .customLong("plugin-dir"), help: "Another directory of external plugins (repeatable).")
    var pluginDirectories: [String] = []
}

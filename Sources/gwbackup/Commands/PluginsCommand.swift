import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup plugins`: list them (the default), or test one component's plugin.
struct PluginsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plugins", abstract: "List the plugins found (default), or test a component's plugin.",
        subcommands: [PluginsListCommand.self, PluginsTestCommand.self], defaultSubcommand: PluginsListCommand.self)
}

/// `gwbackup plugins [list]`: every plugin found, and every broken descriptor.
struct PluginsListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the plugins found and report broken ones.")

    @Option(name: .customLong("plugin-dir"), help: "Another directory of external plugins (repeatable).")
    var pluginDirectories: [String] = []

    @OptionGroup var output: OutputOptions

    /// One plugin, as `--json` prints it.
    struct Listed: Encodable {
        var id: String
        var version: String
        var kind: String
        var location: String
        var summary: String
        var parameters: [String]
    }

    /// The listing, as `--json` prints it.
    struct Listing: Encodable {
        var plugins: [Listed]
        var problems: [String]
    }

    func run() async throws {
        try await CommandSupport.run {
            let state = try StateOptions.parse([])
            let appliance = try ApplianceOptions.parse(self.pluginDirectories.flatMap { ["--plugin-dir", $0] })
            let runtime = CommandSupport.runtime(state: state, appliance: appliance, output: self.output)
            let listed = runtime.registry.plugins.map {
                Listed(id: $0.id, version: $0.version, kind: $0.origin.kindName, location: $0.origin.description, summary: $0.summary,
                       parameters: $0.parameterSchema.parameters.keys.sorted())
            }
            let problems = runtime.registry.problems.map(\.description)
            if self.output.json {
                try Format.printJSON(Listing(plugins: listed, problems: problems))
            } else {
                for plugin in listed {
                    print("\(plugin.id.padding(toLength: 16, withPad: " ", startingAt: 0)) \(plugin.version.padding(toLength: 8, withPad: " ", startingAt: 0)) \(plugin.kind.padding(toLength: 9, withPad: " ", startingAt: 0)) \(plugin.location)\n    \(plugin.summary); parameters: \(plugin.parameters.joined(separator: ", "))")
                }
                for problem in problems { print("BROKEN: \(problem)") }
            }
            if !problems.isEmpty { throw ExitCode(2) }
        }
    }
}

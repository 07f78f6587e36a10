import ArgumentParser
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime

/// `gwbackup manifest`: work with manifests.
struct ManifestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "manifest", abstract: "Check manifests.", subcommands: [Check.self])

    /// `gwbackup manifest check FILE`: every problem, with its component and field.
    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "check", abstract: "Validate a manifest; exits 2 when it has problems.")

        @Argument(help: "The manifest file.")
        var file: String

        @Option(name: .customLong("plugin-dir"), help: "Another directory of external plugins (repeatable).")
        var pluginDirectories: [String] = []

        @OptionGroup var output: OutputOptions

        func run() async throws {
            try await CommandSupport.run {
                let state = try StateOptions.parse([])
                let appliance = try ApplianceOptions.parse(self.pluginDirectories.flatMap { ["--plugin-dir", $0] })
                let runtime = CommandSupport.runtime(state: state, appliance: appliance, output: self.output)
                let manifest = try Manifest.load(path: Paths.absolute(self.file))
                let issues = ManifestValidator(registry: runtime.registry).validate(manifest)
                if self.output.json {
                    try Format.printJSON(issues)
                } else if issues.isEmpty {
                    print("\(self.file): OK (\(manifest.components.count) components: \(manifest.components.map(\.name).joined(separator: ", ")))")
                } else {
                    for issue in issues { print("\(self.file): \(issue)") }
                }
                if !issues.isEmpty { throw ExitCode(2) }
            }
        }
    }
}

import ArgumentParser
import BackupConformance
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import Foundation

/// `gwbackup plugins test`: the conformance run of one component's plugin (see `PluginConformance`).
struct PluginsTestCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "test",
        abstract: "Check a component's plugin against the plugin rules, on a private copy of a root.",
        discussion: """
            Runs the component's plugin with the manifest's parameters against a copy of what it covers under --root \
            (the root itself is never changed) and prints each rule with PASS, FAIL (and what broke it) or SKIP (and why). \
            Exit 1 when a rule fails. Rules: \(ConformanceRule.allCases.map(\.rawValue).joined(separator: ", ")).
            """)

    @Argument(help: "The component (its name in the manifest).")
    var component: String

    @Option(help: "The manifest (default: the shipped one).")
    var manifest: String?

    @Option(help: "The appliance root to copy (read only).")
    var root: String

    @Option(name: .customLong("plugin-dir"), help: "Another directory of external plugins (repeatable).")
    var pluginDirectories: [String] = []

    @Flag(name: .customLong("no-sandbox"), help: "Run the plugin's steps without the sandbox (only where the machine cannot make one).")
    var noSandbox = false

    @Option(name: .customLong("junit"), help: "Also write the results as JUnit XML to FILE (for CI).")
    var junit: String?

    @Option(name: .customLong("step-timeout"), help: "Seconds a step may take here (at most the plugin's own timeout).")
    var stepTimeout: Double = 30

    @OptionGroup var output: OutputOptions

    func validate() throws {
        guard self.stepTimeout.isFinite, self.stepTimeout > 0, self.stepTimeout <= 86400 else {
            throw ValidationError("--step-timeout must be more than 0 and at most 86400")
        }
    }

    func run() async throws {
        try await CommandSupport.run {
            let state = try StateOptions.parse([])
            let appliance = try ApplianceOptions.parse(self.pluginDirectories.flatMap { ["--plugin-dir", $0] } + (self.noSandbox ? ["--no-sandbox"] : []))
            let runtime = CommandSupport.runtime(state: state, appliance: appliance, output: self.output)
            let manifest = try runtime.manifest(path: self.manifest.map(Paths.absolute))
            guard let component = manifest.components.first(where: { $0.name == self.component }) else {
                throw BackupError(.invalidInput, "the manifest has no component '\(SafeText.escaped(self.component))' (it has \(manifest.components.map(\.name).joined(separator: ", ")))")
            }
            let root = Paths.absolute(self.root)
            guard try FileStatus.of(root)?.kind == .directory else { throw BackupError(.invalidInput, "--root \(root) is not a directory") }
            var checks: [ConformanceCheck]
            if let plugin = runtime.registry.plugin(id: component.plugin) {
                let workspace = try FileTree.makeTemporaryDirectory(prefix: "gwbackup-plugins-test-")
                defer { try? FileTree.remove(workspace) }
                checks = await PluginConformance(component: component, plugin: plugin, root: root, workspace: workspace, stepTimeout: self.stepTimeout, logger: runtime.logger).run()
            } else {
                // A plugin whose descriptor is broken is not loaded: its rule fails with the reason.
                let problem = runtime.registry.problems.first { ($0.location as NSString).lastPathComponent == component.plugin }
                checks = [ConformanceCheck(rule: ConformanceRule.descriptor.rawValue, title: ConformanceRule.descriptor.title, status: .fail,
                                           detail: problem?.message ?? "no plugin '\(component.plugin)' was found")]
            }
            if self.output.json {
                try Format.printJSON(checks)
            } else {
                print("plugins test \(component.name) (plugin \(component.plugin))")
                for check in checks {
                    let tag = check.status == .pass ? "PASS" : check.status == .fail ? "FAIL" : "SKIP"
                    print("  \(tag)  \(check.rule): \(check.title)")
                    if !check.detail.isEmpty { print("        \(SafeText.escaped(check.detail, limit: 600))") }
                }
                let failed = checks.filter { $0.status == .fail }
                print(failed.isEmpty ? "OK: \(checks.filter { $0.status == .pass }.count) passed, \(checks.filter { $0.status == .skip }.count) skipped"
                                     : "FAILED: \(failed.map(\.rule).joined(separator: ", "))")
            }
            if let junit { try Self.writeJUnit(checks, component: component.name, to: Paths.absolute(junit)) }
            if checks.contains(where: { $0.status == .fail }) { throw ExitCode(1) }
        }
    }

    /// JUnit XML, one test case per rule.
    static func writeJUnit(_ checks: [ConformanceCheck], component: String, to path: String) throws {
        func escaped(_ text: String) -> String {
            text.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
                .replacingOccurrences(of: "\"", with: "&quot;").unicodeScalars.filter { $0.value >= 0x20 || $0 == "\n" || $0 == "\t" }.map(String.init).joined()
        }
        var xml = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        xml += "<testsuite name=\"gwbackup plugins test \(escaped(component))\" tests=\"\(checks.count)\" failures=\"\(checks.filter { $0.status == .fail }.count)\" skipped=\"\(checks.filter { $0.status == .skip }.count)\">\n"
        for check in checks {
            xml += "  <testcase classname=\"\(escaped(component))\" name=\"\(escaped(check.rule))\">"
            switch check.status {
            case .pass: break
            case .fail: xml += "<failure message=\"\(escaped(check.detail))\">\(escaped(check.title))</failure>"
            case .skip: xml += "<skipped message=\"\(escaped(check.detail))\"/>"
            }
            xml += "</testcase>\n"
        }
        xml += "</testsuite>\n"
        try FileTree.writeAtomically(Data(xml.utf8), to: path, mode: 0o644)
    }
}

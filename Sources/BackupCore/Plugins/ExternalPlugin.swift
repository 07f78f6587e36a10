import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// A plugin run as a child process: `plugin.json` plus an executable in any language.
///
/// The protocol (version 1, `docs/plugins.md`): one JSON request on stdin, one JSON response on
/// stdout, exit status 0 for success. The request names the action, component, appliance root,
/// staging directory and parameters; the same values arrive as `GWBACKUP_*` environment variables
/// for shell scripts. No secret is ever passed to a plugin, in arguments, environment or stdin.
public struct ExternalPlugin: ComponentPlugin {
    /// The request written to the plugin's stdin.
    public struct Request: Codable, Sendable {
        public var `protocol`: Int
        public var action: String
        public var component: String
        public var applianceRoot: String
        public var stagingDirectory: String
        public var parameters: [String: JSONValue]
        public var rollback: Bool
        /// The step's timeout (the descriptor's): the SDKs reply before it runs out. Added to
        /// protocol 1 in 0.9; plugins ignore fields they do not know.
        public var timeoutSeconds: Double?
    }

    /// The response read from the plugin's stdout.
    public struct Response: Codable, Sendable {
        public var `protocol`: Int
        public var status: String
        public var message: String?
        public var warnings: [String]?
        /// What the staged data holds, by name (`PluginReport.counts`); verify only, optional.
        /// Any JSON, checked in `interpret`: a wrong shape costs the counts, not the step.
        public var counts: JSONValue?
    }

    public let descriptor: ExternalPluginDescriptor
    public let directory: String
    /// The program run for each step (checked by `ExternalPluginDescriptor.check`).
    public let executablePath: String
    /// Starts the program (`ChildProcessLauncher` of `BackupProcess` in gwbackup).
    public let launcher: any ProcessLauncher

    public init(descriptor: ExternalPluginDescriptor, directory: String, executablePath: String? = nil, launcher: any ProcessLauncher) {
        self.descriptor = descriptor
        self.directory = directory
        self.executablePath = executablePath ?? directory + "/" + descriptor.executable
        self.launcher = launcher
    }

    public var id: String { self.descriptor.id }
    public var version: String { self.descriptor.version }
    public var summary: String { self.descriptor.description ?? "external plugin" }
    public var origin: PluginOrigin { .external(directory: self.directory) }
    public var parameterSchema: ParameterSchema { self.descriptor.parameters ?? ParameterSchema([:]) }

    public func collect(_ context: PluginContext) async throws -> PluginReport {
        try await self.run("collect", context)
    }

    public var offersVerify: Bool { self.descriptor.implements("verify") }

    public func verify(_ context: PluginContext) async throws -> PluginReport {
        guard self.descriptor.implements("verify") else { return PluginReport() }
        return try await self.run("verify", context)
    }

    /// The restore step, then `activate` when the plugin implements it: a sandboxed restore's changes
    /// reach the appliance only after the step, so whatever makes services take them up (a reload)
    /// runs as a step of its own, after they are in place; never for a drill's scratch root, whose
    /// files no service reads.
    public func restore(_ context: PluginContext) async throws -> PluginReport {
        var report = try await self.run("restore", context)
        if self.descriptor.implements("activate") && !context.isScratchRoot {
            report.warnings += try await self.run("activate", context).warnings
        }
        return report
    }

    /// The step's timeout: the descriptor's (checked to lie in 0-86400 at load), default 10 minutes.
    public var timeoutSeconds: Double {
        let asked = self.descriptor.timeoutSeconds ?? 600
        return asked.isFinite && asked > 0 ? min(asked, ExternalPluginDescriptor.maximumTimeoutSeconds) : 600
    }

    private func run(_ action: String, _ context: PluginContext) async throws -> PluginReport {
        let outcome = try await self.execute(action, context)
        if outcome.cancelled, let interrupted = context.cancellation?.error {
            throw BackupError(.interrupted, "plugin '\(self.id)' \(action) was stopped: \(interrupted.message)")
        }
        return try self.interpret(outcome, action: action)
    }

    /// Runs one step and returns how the process ended, without judging it (`gwbackup plugins test`
    /// sends requests of other protocols and actions this way, with a shorter timeout).
    public func execute(_ action: String, _ context: PluginContext, protocolVersion: Int = ExternalPluginDescriptor.protocolVersion, timeoutSeconds: Double? = nil) async throws -> ProcessOutcome {
        let timeout = min(timeoutSeconds ?? self.timeoutSeconds, self.timeoutSeconds)
        let message = Request(
            protocol: protocolVersion, action: action, component: context.component,
            applianceRoot: context.applianceRoot, stagingDirectory: context.stagingDirectory,
            parameters: context.parameters, rollback: context.isRollback, timeoutSeconds: timeout)
        let input = try JSONCoding.compactEncoder().encode(message)
        var environment = [
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin",
            "LANG": "C.UTF-8",
            "HOME": context.stagingDirectory,
            "GWBACKUP_PROTOCOL": String(protocolVersion),
            "GWBACKUP_ACTION": action,
            "GWBACKUP_COMPONENT": context.component,
            "GWBACKUP_ROOT": context.applianceRoot,
            "GWBACKUP_STAGING": context.stagingDirectory,
            "GWBACKUP_ROLLBACK": context.isRollback ? "1" : "0",
            "GWBACKUP_PLUGIN_DIR": self.directory,
            "GWBACKUP_SANDBOX": self.launcher.sandboxes ? "1" : "0",
        ]
        for (name, value) in context.parameters {
            let key = "GWBACKUP_PARAM_" + name.uppercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined()
            if let text = value.stringValue {
                environment[key] = text
            } else if let list = value.stringArrayValue {
                environment[key] = list.joined(separator: "\n")
            }
        }
        let step = try SandboxedStep(plugin: self, action: action, context: context, enabled: self.launcher.sandboxes)
        defer { step.remove() }
        // What runs is the file checked now, opened: a path swapped afterwards changes nothing.
        let executable = try ExternalPluginDescriptor.openExecutable(self.executablePath)
        defer { close(executable) }
        var request = ProcessRequest(
            executable: self.executablePath, environment: environment, timeout: .milliseconds(Int64(timeout * 1000)),
            cancellation: context.cancellation)
        request.sandbox = step.sandbox
        request.executableDescriptor = executable
        request.workingDirectory = context.stagingDirectory
        context.logger.debug("running external plugin", metadata: ["plugin": "\(self.id)", "action": "\(action)", "sandboxed": "\(step.sandbox != nil)"])
        let launcher = self.launcher
        let prepared = request
        let outcome = try await Blocking.run("gwbackup.plugin") { try launcher.run(prepared, input: input) }
        try step.applyChanges(after: outcome)
        return outcome
    }

    /// Turns a finished child into a report or an error that says what went wrong and what it printed.
    package func interpret(_ outcome: ProcessOutcome, action: String) throws -> PluginReport {
        // A plugin's words are outside input: the last 2,000 characters of stderr, escaped.
        let stderrText = String(String(decoding: outcome.stderr, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines).suffix(2000))
        let stderrSuffix = stderrText.isEmpty ? "" : "; stderr: \(SafeText.escaped(stderrText, limit: 2000))"
        let name = "plugin '\(self.id)' \(action)"
        if outcome.timedOut {
            let timeout = self.descriptor.timeoutSeconds ?? 600
            throw BackupError(.pluginFailed, "\(name) timed out after \(timeout.formatted())s and was killed\(stderrSuffix)")
        }
        if outcome.signalled {
            throw BackupError(.pluginFailed, "\(name) was killed by signal \(outcome.status)\(stderrSuffix)")
        }
        if outcome.stdoutOverLimit {
            throw BackupError(.pluginFailed, "\(name) wrote more than \(ProcessRequest.replyLimit) bytes on stdout, the limit of a reply (one JSON object; logs go to stderr)\(stderrSuffix)")
        }
        let response = try? JSONDecoder().decode(Response.self, from: outcome.stdout)
        if outcome.status != 0 {
            let message = response?.message.map { ": \(SafeText.escaped($0, limit: 1000))" } ?? ""
            throw BackupError(.pluginFailed, "\(name) failed with exit status \(outcome.status)\(message)\(stderrSuffix)")
        }
        guard let response else {
            let text = SafeText.escaped(bytes: outcome.stdout.prefix(200), limit: 200)
            throw BackupError(.pluginFailed, "\(name) did not answer with a protocol response on stdout (got '\(text)')\(stderrSuffix)")
        }
        guard response.protocol == ExternalPluginDescriptor.protocolVersion else {
            throw BackupError(.pluginFailed, "\(name) answered with protocol \(response.protocol); expected \(ExternalPluginDescriptor.protocolVersion)")
        }
        guard response.status == "ok" else {
            throw BackupError(.pluginFailed, "\(name) reported \(SafeText.escaped(response.status, limit: 40)): \(SafeText.escaped(response.message ?? "no message", limit: 1000))\(stderrSuffix)")
        }
        var warnings = (response.warnings ?? []).prefix(100).map { SafeText.escaped($0, limit: 500) }
        if outcome.leftoverProcesses > 0 {
            warnings.append("\(name) left \(outcome.leftoverProcesses) process\(outcome.leftoverProcesses == 1 ? "" : "es") running; killed when the step ended")
        }
        let (counts, countWarning) = PluginReport.counts(from: response.counts, plugin: self.id)
        if let countWarning { warnings.append(countWarning) }
        return PluginReport(
            warnings: warnings,
            message: SafeText.escaped(response.message ?? "", limit: 500),
            counts: counts)
    }
}

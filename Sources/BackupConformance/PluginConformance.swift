public import BackupCore
public import BackupModel
import BackupPOSIX
import Foundation
import Glibc
public import Logging

/// `gwbackup plugins test`: a conformance run of one component's plugin, with the manifest's
/// parameters, against a private copy of an appliance root (the root given is never changed),
/// modelled on Kubernetes' csi-sanity. Each rule passes, fails (naming what broke it) or is skipped
/// with the reason (a rule that needs what the plugin does not offer).
public struct PluginConformance: Sendable {
    public var component: ManifestComponent
    public var plugin: any ComponentPlugin
    /// The root to copy from (read only).
    public var root: String
    /// A private, empty directory for the copies and staging directories.
    public var workspace: String
    /// The longest a step may take here (a hanging plugin fails in seconds, not after its own timeout).
    public var stepTimeout: Double
    public var logger: Logger

    public init(component: ManifestComponent, plugin: any ComponentPlugin, root: String, workspace: String, stepTimeout: Double = 30, logger: Logger) {
        self.component = component
        self.plugin = plugin
        self.root = root
        self.workspace = workspace
        self.stepTimeout = stepTimeout
        self.logger = logger
    }

    var external: ExternalPlugin? { self.plugin as? ExternalPlugin }

    /// Runs every rule; never throws (a failure of the harness itself is reported as a failed rule).
    public func run() async -> [ConformanceCheck] {
        var state = RunState()
        var checks: [ConformanceCheck] = []
        for rule in ConformanceRule.allCases {
            let outcome: (ConformanceCheck.Status, String)
            do {
                outcome = try await self.check(rule, &state)
            } catch {
                outcome = (.fail, BackupError.wrap(error).message)
            }
            checks.append(ConformanceCheck(rule: rule.rawValue, title: rule.title, status: outcome.0, detail: outcome.1))
        }
        return checks
    }

    /// What the rules share: the first collect's staging directory, and what each step left behind.
    struct RunState {
        var firstStaging: String?
        var collectRan = false
        var outsideWrites: String?
        var leftovers: [String] = []
        var timeouts: [String] = []
        var steps = 0
        var restores = 0
        /// Writes the sandbox refused, by step ("collect: sh: 1: cannot create /tmp/x: Read-only file system").
        var refused: [(action: String, line: String)] = []
        /// Restores whose changes the core refused (outside the declared paths, or a FIFO).
        var restoreOutside: [String] = []
    }

    // MARK: - Steps

    func path(_ name: String) -> String { self.workspace + "/" + name }

    func context(root: String, staging: String, rollback: Bool = false, cancellation: JobCancellation? = nil) -> PluginContext {
        PluginContext(component: self.component.name, applianceRoot: root, stagingDirectory: staging, parameters: self.component.parameters, isRollback: rollback, logger: self.logger, cancellation: cancellation)
    }

    /// Runs a step through the plugin, as a job does; an external plugin's process is watched for
    /// timeouts and processes left behind.
    /// Afterwards, whatever its outcome, its staging directory and root must still be directories: a
    /// plugin that swapped one for a link fails the step, and the kit never works through that link.
    @discardableResult
    func step(_ action: String, root: String, staging: String, rollback: Bool = false, _ state: inout RunState) async throws -> PluginReport {
        let context = self.context(root: root, staging: staging, rollback: rollback)
        state.steps += 1
        let report: PluginReport
        do {
            report = try await self.run(action, context, &state)
        } catch {
            try Self.requireDirectory(staging, what: "\(action) left its staging directory")
            try Self.requireDirectory(root, what: "\(action) left the root")
            throw error
        }
        try Self.requireDirectory(staging, what: "\(action) left its staging directory")
        try Self.requireDirectory(root, what: "\(action) left the root")
        return report
    }

    private func run(_ action: String, _ context: PluginContext, _ state: inout RunState) async throws -> PluginReport {
        if let external {
            if action == "restore" { state.restores += 1 }
            let outcome: ProcessOutcome
            do {
                outcome = try await external.execute(action, context, timeoutSeconds: self.stepTimeout)
            } catch let error as BackupError where action == "restore" && error.message.contains("nothing it wrote was applied") {
                state.restoreOutside.append(error.message)
                throw error
            }
            for line in Self.sandboxRefusals(outcome.stderr) { state.refused.append((action, line)) }
            if outcome.leftoverProcesses > 0 { state.leftovers.append("\(action) left \(outcome.leftoverProcesses)") }
            if outcome.timedOut { state.timeouts.append("\(action) did not finish within \(Self.seconds(self.stepTimeout))") }
            return try external.interpret(outcome, action: action)
        }
        switch action {
        case "collect": return try await self.plugin.collect(context)
        case "verify": return try await self.plugin.verify(context)
        default: return try await self.plugin.restore(context)
        }
    }

    /// What a staged tree holds that the archive cannot keep as it is: FIFOs, sockets and devices are
    /// left out of a backup; a file with several names in the tree is archived once per name and
    /// restored as separate copies. Walked without following links, at most 100,000 entries.
    static func unarchivable(_ staging: String) throws -> [String] {
        var problems: [String] = []
        var seen: [String: String] = [:]
        var pending = [("", 0)]
        var count = 0
        while let (relative, depth) = pending.popLast() {
            let directory = relative.isEmpty ? staging : staging + "/" + relative
            for name in try FileTree.names(in: directory).sorted() {
                count += 1
                guard count <= 100_000 else { return problems + ["more than 100,000 entries (not all checked)"] }
                let child = relative.isEmpty ? name : relative + "/" + name
                var info = stat()
                guard lstat(staging + "/" + child, &info) == 0 else { continue }
                let shown = SafeText.escaped(child, limit: 200)
                switch info.st_mode & S_IFMT {
                case S_IFDIR where depth < 64: pending.append((child, depth + 1))
                case S_IFDIR, S_IFLNK: break
                case S_IFREG:
                    if info.st_nlink > 1 {
                        let key = "\(info.st_dev):\(info.st_ino)"
                        if let other = seen[key] { problems.append("\(shown) (a hard link to \(other))") } else { seen[key] = shown }
                    }
                case S_IFIFO: problems.append("\(shown) (a FIFO)")
                case S_IFSOCK: problems.append("\(shown) (a socket)")
                default: problems.append("\(shown) (a device)")
                }
            }
        }
        return problems
    }

    /// The lines of a step's stderr that show the sandbox refusing a write: a read-only file system,
    /// or a mount point (the staging directory) that cannot be removed or replaced.
    static func sandboxRefusals(_ stderr: Data) -> [String] {
        String(decoding: stderr, as: UTF8.self).split(separator: "\n")
            .filter { $0.contains("Read-only file system") || $0.contains("Device or resource busy") }
            .prefix(5).map { SafeText.escaped(String($0), limit: 300) }
    }

    /// Throws unless `path` is a directory itself, not a link to one (`lstat`).
    static func requireDirectory(_ path: String, what: String) throws {
        guard let status = try FileStatus.of(path) else {
            throw BackupError(.pluginFailed, "\(what) removed: \(path)")
        }
        guard status.kind == .directory else {
            let target = status.kind == .symlink ? " (a symlink to \(SafeText.escaped((try? FileTree.readLink(path)) ?? "?", limit: 200)))" : ""
            throw BackupError(.pluginFailed, "\(what) replaced by something that is not a directory\(target): \(path); the kit follows no link a plugin made")
        }
    }

    /// A fresh, private staging directory.
    func staging(_ name: String) throws -> String {
        let directory = self.path(name)
        try FileTree.makePrivateDirectory(directory)
        return directory
    }

    /// A private copy of what the component covers under the root: its path parameters (a glob's
    /// directory), or the whole root when it has none.
    func copyRoot(to target: String, without excluded: String? = nil) throws {
        let paths = self.coveredPaths()
        if paths.isEmpty {
            _ = try FileTree.copy(self.root, to: target)
        } else {
            try FileTree.makeDirectories(target, mode: 0o755)
            if let status = try FileStatus.of(self.root) { try FileTree.applyMetadata(status, to: target) }
            // Shorter paths first: a directory's copy holds the files named below it.
            for relative in paths.sorted(by: { $0.count < $1.count }) {
                guard try FileStatus.of(self.root + "/" + relative) != nil, try FileStatus.of(target + "/" + relative) == nil else { continue }
                let parent = (relative as NSString).deletingLastPathComponent
                if !parent.isEmpty { try self.copyDirectories(parent, into: target) }
                _ = try FileTree.copy(self.root + "/" + relative, to: target + "/" + relative)
            }
        }
        if let excluded { try FileTree.remove(target + "/" + excluded) }
    }

    /// Creates `relative`'s directories under `target` with the root's modes and owners.
    private func copyDirectories(_ relative: String, into target: String) throws {
        var built = ""
        for part in relative.split(separator: "/") {
            built += (built.isEmpty ? "" : "/") + part
            guard try FileStatus.of(target + "/" + built) == nil else { continue }
            try FileTree.makeDirectories(target + "/" + built, mode: 0o755)
            if let status = try FileStatus.of(self.root + "/" + built) { try FileTree.applyMetadata(status, to: target + "/" + built) }
        }
    }

    /// The path parameters' values (strings and string arrays); a glob stands for its directory.
    func coveredPaths() -> [String] {
        var paths: [String] = []
        for (name, parameter) in self.plugin.parameterSchema.parameters.sorted(by: { $0.key < $1.key }) where parameter.path {
            let values = self.component.parameters[name].flatMap { $0.stringValue.map { [$0] } ?? $0.stringArrayValue } ?? []
            for value in values {
                if value.contains(where: { "*?[".contains($0) }) {
                    let directory = (value as NSString).deletingLastPathComponent
                    if !directory.isEmpty { paths.append(directory) }
                } else {
                    paths.append(value)
                }
            }
        }
        return Array(Set(paths)).sorted()
    }

    /// Staged content without times (repeatability and round trips compare what, not when),
    /// leaving out what the descriptor declares volatile.
    func stagedContent(_ staging: String) throws -> TreeFingerprint {
        let patterns = self.external?.descriptor.volatile ?? []
        return try TreeFingerprint(staging, times: false) { path in patterns.contains { fnmatch($0, path, 0) == 0 } }
    }

    static func seconds(_ value: Double) -> String { value == value.rounded() ? "\(Int(value)) s" : String(format: "%.1f s", value) }

    // MARK: - Rules

    func check(_ rule: ConformanceRule, _ state: inout RunState) async throws -> (ConformanceCheck.Status, String) {
        switch rule {
        case .descriptor:
            guard let external else { return (.skip, "built-in plugin: no descriptor") }
            let executable = try external.descriptor.check(directory: external.directory, programDirectory: (external.executablePath as NSString).deletingLastPathComponent)
            return (.pass, "\(external.directory)/plugin.json, executable \(executable)")

        case .replyIsOneProtocolObject:
            guard let external else { return (.skip, "built-in plugin: runs inside gwbackup, no protocol") }
            let root = self.path("root-reply")
            try self.copyRoot(to: root)
            let staging = try self.staging("staging-reply")
            let outcome = try await external.execute("collect", self.context(root: root, staging: staging), timeoutSeconds: self.stepTimeout)
            state.steps += 1
            if outcome.leftoverProcesses > 0 { state.leftovers.append("collect left \(outcome.leftoverProcesses)") }
            if outcome.timedOut {
                state.timeouts.append("collect did not finish within \(Self.seconds(self.stepTimeout))")
                return (.fail, "collect did not answer within \(Self.seconds(self.stepTimeout))")
            }
            if let problem = Self.replyProblem(outcome.stdout) { return (.fail, "collect: \(problem)") }
            _ = try external.interpret(outcome, action: "collect")
            return (.pass, "one JSON object, protocol \(ExternalPluginDescriptor.protocolVersion)")

        case .newerProtocolRefused, .unknownActionRefused:
            guard let external else { return (.skip, "built-in plugin: runs inside gwbackup, no protocol") }
            let root = self.path("root-\(rule.rawValue)")
            try self.copyRoot(to: root)
            let before = try TreeFingerprint(root, times: true)
            let staging = try self.staging("staging-\(rule.rawValue)")
            let newer = rule == .newerProtocolRefused
            let outcome = try await external.execute(newer ? "collect" : "conformance-unknown-action", self.context(root: root, staging: staging), protocolVersion: newer ? ExternalPluginDescriptor.protocolVersion + 1 : ExternalPluginDescriptor.protocolVersion, timeoutSeconds: self.stepTimeout)
            state.steps += 1
            if outcome.leftoverProcesses > 0 { state.leftovers.append("a refused request left \(outcome.leftoverProcesses)") }
            let what = newer ? "a request of protocol \(ExternalPluginDescriptor.protocolVersion + 1)" : "a request with action 'conformance-unknown-action'"
            if outcome.timedOut { return (.fail, "\(what) was neither answered nor refused within \(Self.seconds(self.stepTimeout))") }
            if outcome.signalled { return (.fail, "\(what) made the plugin die by signal \(outcome.status)") }
            let response = try? JSONDecoder().decode(ExternalPlugin.Response.self, from: outcome.stdout)
            if outcome.status == 0 && response?.status == "ok" { return (.fail, "\(what) was accepted (exit 0, status ok)") }
            if let problem = Self.replyProblem(outcome.stdout) { return (.fail, "\(what) was refused without a protocol reply: \(problem)") }
            if try TreeFingerprint(root, times: true) != before { return (.fail, "\(what) changed the root") }
            return (.pass, "refused: exit \(outcome.status), \"\(SafeText.escaped(response?.message ?? "", limit: 120))\"")

        case .collectLeavesRootUnchanged, .collectWritesOnlyStaging:
            if rule == .collectWritesOnlyStaging {
                guard state.collectRan else { return (.skip, "collect did not run") }
                if let outside = state.outsideWrites { return (.fail, "collect wrote outside its staging directory: \(outside)") }
                let refused = state.refused.filter { $0.action == "collect" }.map(\.line)
                if !refused.isEmpty { return (.fail, "collect tried to write outside its staging directory; the sandbox refused it: \(refused.joined(separator: "; "))") }
                return (.pass, "nothing beside the staging directory changed")
            }
            let root = self.path("root")
            try self.copyRoot(to: root)
            let before = try TreeFingerprint(root, times: true)
            let workspaceBefore = try TreeFingerprint(self.workspace, times: true) { $0.hasPrefix("root/") || $0.hasPrefix("staging-1") }
            let staging = try self.staging("staging-1")
            try await self.step("collect", root: root, staging: staging, &state)
            state.collectRan = true
            let workspaceAfter = try TreeFingerprint(self.workspace, times: true) { $0.hasPrefix("root/") || $0.hasPrefix("staging-1") }
            if workspaceAfter != workspaceBefore { state.outsideWrites = workspaceBefore.differences(to: workspaceAfter) }
            let after = try TreeFingerprint(root, times: true)
            guard after == before else { return (.fail, "collect changed the root: \(before.differences(to: after))") }
            if let line = state.refused.first(where: { $0.action == "collect" && $0.line.contains(root) })?.line {
                return (.fail, "collect tried to change the root; the sandbox refused it: \(line)")
            }
            state.firstStaging = staging
            return (.pass, "\(before.entries.count) entries unchanged")

        case .collectIsRepeatable:
            guard let first = state.firstStaging else { return (.skip, "the first collect failed") }
            let staging = try self.staging("staging-2")
            try await self.step("collect", root: self.path("root"), staging: staging, &state)
            let (a, b) = (try self.stagedContent(first), try self.stagedContent(staging))
            guard a == b else { return (.fail, "two collects of the same root differ: \(a.differences(to: b)) (declare such paths in plugin.json's \"volatile\")") }
            return (.pass, "\(a.entries.count) staged entries, identical")

        case .stagingIsArchivable:
            guard let first = state.firstStaging else { return (.skip, "the first collect failed") }
            let problems = try Self.unarchivable(first)
            guard problems.isEmpty else {
                return (.fail, "the archive would drop or split what collect staged: \(problems.prefix(10).joined(separator: ", "))\(problems.count > 10 ? " and \(problems.count - 10) more" : "")")
            }
            return (.pass, "regular files, directories and symlinks only, no hard links")

        case .roundTrip:
            guard let first = state.firstStaging else { return (.skip, "the first collect failed") }
            let fresh = self.path("fresh-root")
            try FileTree.makeDirectories(fresh, mode: 0o755)
            let restoreStaging = self.path("staging-restore")
            try Self.requireDirectory(first, what: "the first collect's staging directory was")
            _ = try FileTree.copy(first, to: restoreStaging)
            do {
                try await self.step("restore", root: fresh, staging: restoreStaging, &state)
            } catch {
                return (.fail, "restore into an empty root failed: \(BackupError.wrap(error).message)")
            }
            let again = try self.staging("staging-3")
            try await self.step("collect", root: fresh, staging: again, &state)
            let (a, b) = (try self.stagedContent(first), try self.stagedContent(again))
            guard a == b else { return (.fail, "what was restored is not what was collected: \(a.differences(to: b))") }
            return (.pass, "restored into an empty root and collected the same \(a.entries.count) entries")

        case .absentStaysAbsent:
            guard state.firstStaging != nil else { return (.skip, "the first collect failed") }
            guard let victim = try self.coveredPaths().first(where: { try FileStatus.of(self.root + "/" + $0)?.kind == .regular }) else {
                return (.skip, "no path parameter names a file that exists under the root")
            }
            let without = self.path("root-without")
            try self.copyRoot(to: without, without: victim)
            let staging = try self.staging("staging-without")
            do {
                try await self.step("collect", root: without, staging: staging, &state)
            } catch {
                return (.skip, "the plugin does not collect without \(victim): \(BackupError.wrap(error).message)")
            }
            let with = self.path("root-with")
            try self.copyRoot(to: with)
            try await self.step("restore", root: with, staging: staging, &state)
            guard try FileStatus.of(with + "/" + victim) == nil else { return (.fail, "\(victim) was absent at collect time and is present after restore") }
            return (.pass, "\(victim) removed by restore")

        case .verifyRefusesCorruption:
            guard self.plugin.offersVerify else { return (.skip, "the plugin does not offer verify") }
            guard let first = state.firstStaging else { return (.skip, "the first collect failed") }
            let root = self.path("root")
            do {
                try await self.step("verify", root: root, staging: first, &state)
            } catch {
                return (.fail, "verify refused an intact staging tree: \(BackupError.wrap(error).message)")
            }
            let corrupted = try self.corruptedCopy(of: first, name: "staging-corrupted").path
            var refusal = ""
            do {
                try await self.step("verify", root: root, staging: corrupted, &state)
                return (.fail, "verify accepted a staging tree whose every file was replaced by garbage: a restore would apply it blindly")
            } catch {
                refusal = BackupError.wrap(error).message
            }
            // The content garbled, the record (any file holding one JSON object) intact: a verify that
            // reads only its record would let the garbage through. Not for the built-in fileset, whose
            // content is opaque bytes that the archive's SHA-256 and MDC authenticate before its verify.
            let (contentOnly, garbled) = try self.corruptedCopy(of: first, name: "staging-content-corrupted", keepingRecords: true)
            if garbled > 0 && self.external != nil {
                do {
                    try await self.step("verify", root: root, staging: contentOnly, &state)
                    return (.fail, "verify accepted a staging tree whose \(garbled) content file(s) were garbage while its JSON record was intact: it checks the record, not what a restore would apply")
                } catch {
                    refusal = BackupError.wrap(error).message
                }
            }
            return (.pass, "refused: \(refusal.prefix(160))")

        case .rollbackRestoresPriorState:
            guard state.firstStaging != nil else { return (.skip, "the first collect failed") }
            let root = self.path("root-rollback")
            try self.copyRoot(to: root)
            let prior = try self.staging("staging-prior")
            try await self.step("collect", root: root, staging: prior, &state)
            let corrupted = try self.corruptedCopy(of: prior, name: "staging-bad").path
            var failed = false
            do { try await self.step("restore", root: root, staging: corrupted, &state) } catch { failed = true }
            // From a copy: a restore may move staged files into place.
            let rollback = self.path("staging-prior-copy")
            try Self.requireDirectory(prior, what: "the collect's staging directory was")
            _ = try FileTree.copy(prior, to: rollback)
            try await self.step("restore", root: root, staging: rollback, rollback: true, &state)
            let after = try self.staging("staging-after")
            try await self.step("collect", root: root, staging: after, &state)
            let (a, b) = (try self.stagedContent(prior), try self.stagedContent(after))
            guard a == b else { return (.fail, "after \(failed ? "a failed" : "a") restore and its rollback the root differs: \(a.differences(to: b))") }
            return (.pass, failed ? "the restore of garbage failed; the rollback put everything back" : "the rollback put everything back (the restore of garbage did not fail)")

        case .restoreWritesOnlyDeclaredPaths:
            guard state.restores > 0 else { return (.skip, "no restore ran") }
            if let first = state.restoreOutside.first { return (.fail, first) }
            let refused = state.refused.filter { $0.action == "restore" }.map(\.line)
            if !refused.isEmpty { return (.fail, "restore tried to write outside the overlay of its declared paths; the sandbox refused it: \(refused.joined(separator: "; "))") }
            guard self.external?.launcher.sandboxes == true else { return (.skip, "run without the sandbox (--no-sandbox): restores are not confined") }
            return (.pass, "\(state.restores) restores, every change within \(DeclaredPaths(schema: self.plugin.parameterSchema, parameters: self.component.parameters).patterns.joined(separator: ", "))")

        case .stopsOnSIGTERM:
            guard let external else { return (.skip, "built-in plugin: runs inside gwbackup") }
            let root = self.path("root-sigterm")
            try self.copyRoot(to: root)
            let staging = try self.staging("staging-sigterm")
            let cancellation = JobCancellation()
            let started = ContinuousClock.now
            // A Dispatch timer, not a task: Swift's cooperative threads may all be busy (the conformance
            // run inside a loaded test process saw its 50 ms sleep outlast the 3 s step timeout).
            // Half a second after the start: a SIGTERM before the plugin's interpreter has started and
            // set its handlers would end any plugin and tell nothing (at 50 ms, a loaded machine once
            // ended a plugin that ignores SIGTERM before its `trap` ran, and the rule passed it).
            let stop = DispatchWorkItem { cancellation.cancel(reason: "conformance: SIGTERM") }
            DispatchQueue.global().asyncAfter(deadline: .now() + 0.5, execute: stop)
            defer { stop.cancel() }
            let outcome = try await external.execute("collect", self.context(root: root, staging: staging, cancellation: cancellation), timeoutSeconds: self.stepTimeout)
            state.steps += 1
            if outcome.leftoverProcesses > 0 { state.leftovers.append("collect (stopped) left \(outcome.leftoverProcesses)") }
            if !outcome.cancelled { return (.skip, "collect finished in \(started.duration(to: .now).formatted(.units(allowed: [.milliseconds]))), before SIGTERM") }
            if outcome.signalled && outcome.status == SIGKILL { return (.fail, "collect ignored SIGTERM and was killed with SIGKILL") }
            return (.pass, outcome.signalled ? "ended by signal \(outcome.status)" : "ended with exit status \(outcome.status)")

        case .stepsFinishInTime:
            guard state.steps > 0 else { return (.skip, "no step ran") }
            guard state.timeouts.isEmpty else { return (.fail, state.timeouts.joined(separator: "; ")) }
            return (.pass, "\(state.steps) steps, each within \(Self.seconds(self.stepTimeout))")

        case .noProcessLeftBehind:
            guard self.external != nil else { return (.skip, "built-in plugin: starts no process of its own") }
            guard self.external?.launcher.seesLeftovers == true else { return (.skip, "gwbackup-plugin-guard is not installed: processes left behind cannot be seen") }
            guard state.leftovers.isEmpty else { return (.fail, state.leftovers.map { "\($0) process(es) running" }.joined(separator: "; ") + " (killed by the guard)") }
            return (.pass, "\(state.steps) steps, none left a process")
        }
    }

    /// A copy of a staging tree with every regular file's content replaced by garbage. The staging tree
    /// is the plugin's: it must be a directory itself, and the garbage is put in place through
    /// descriptors (`ConfinedDirectory`), so no link in the copy redirects a write out of it.
    /// With `keepingRecords`, files that hold one JSON object (a plugin's record of what it staged)
    /// are left intact: a verify that checks only its record passes such a copy. Returns the copy and
    /// how many files it garbled.
    func corruptedCopy(of staging: String, name: String, keepingRecords: Bool = false) throws -> (path: String, garbled: Int) {
        try Self.requireDirectory(staging, what: "the staging directory to corrupt was")
        let target = self.path(name)
        _ = try FileTree.copy(staging, to: target)
        let fingerprint = try TreeFingerprint(target, times: false)
        let confined = try ConfinedDirectory(path: target)
        var garbled = 0
        for (index, (path, line)) in fingerprint.entries.sorted(by: { $0.key < $1.key }).enumerated() where line.hasPrefix("regular") {
            if keepingRecords, let data = try? FileTree.readStagedFile(target + "/" + path), case .object? = try? JSONDecoder().decode(JSONValue.self, from: data) {
                continue
            }
            garbled += 1
            let garbage = self.path("\(name).garbage-\(index)")
            try FileTree.writeAtomically(Data("\u{0}\u{1}conformance garbage\u{7f}{[\n".utf8), to: garbage)
            try confined.install(path, from: garbage)
        }
        return (target, garbled)
    }

    /// Why `stdout` is not exactly one JSON object of this protocol; nil when it is.
    static func replyProblem(_ stdout: Data) -> String? {
        let text = String(decoding: stdout, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard !text.isEmpty else { return "nothing on stdout" }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) else {
            return "stdout is not one JSON value (got '\(SafeText.escaped(String(text.prefix(80))))')"
        }
        guard case .object(let object) = value else { return "the reply is not a JSON object" }
        guard case .number(let number)? = object["protocol"], number == Double(ExternalPluginDescriptor.protocolVersion) else {
            return "the reply's protocol is \(object["protocol"].map { "\($0)" } ?? "missing"), not \(ExternalPluginDescriptor.protocolVersion)"
        }
        guard case .string? = object["status"] else { return "the reply has no status" }
        return nil
    }
}

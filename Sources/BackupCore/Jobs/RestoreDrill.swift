import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// `gwbackup drill`: proves that a backup restores, without touching the appliance. Every component
/// the appliance's manifest shares with the backup is decrypted and unpacked into private staging,
/// checked by its plugin's verify, restored by its plugin into a scratch root (a private directory of
/// the state's staging, never the appliance; no `activate`), collected again from there, checked
/// again, and compared path by path with what the authenticated backup held: a drill passes when the
/// round trip changes nothing. The scratch root and staging are removed at the end; a killed drill's
/// are removed by the next job. It holds the job lock (it runs plugins) and records its outcome for
/// monitoring (`gwbackup_last_drill_success_timestamp_seconds`), never as a restore.
public struct RestoreDrill: Sendable {
    /// What a drill found.
    public struct Report: Codable, Sendable, Equatable {
        public var backup: String
        public var location: String
        public var ok: Bool
        /// One per component of the manifest: `ok`, `failed` (with what went wrong), or `skipped`.
        public var components: [ComponentResult]
        /// Epoch seconds.
        public var started: Int64
        public var finished: Int64
    }

    var orchestrator: Orchestrator
    var store: any BackupStore
    var passphrase: Secret
    var manifest: Manifest
    /// A backup by name (whoever took it), or nil for the newest of `appliance` (this appliance's).
    var backup: String?
    var appliance: String?

    public init(orchestrator: Orchestrator, store: any BackupStore, passphrase: Secret, manifest: Manifest, backup: String? = nil, appliance: String? = nil) {
        self.orchestrator = orchestrator
        self.store = store
        self.passphrase = passphrase
        self.manifest = manifest
        self.backup = backup
        self.appliance = appliance
    }

    /// Runs the drill. Throws when it cannot start (the lock, no backup, a wrong password); a
    /// component that fails makes the report `ok: false` and names it.
    public func run() async throws -> Report {
        let lock = try await self.orchestrator.lockForJob("drill of \(self.store.displayName)")
        defer { lock.release() }
        _ = await self.orchestrator.recoverAfterInterruption(logger: self.orchestrator.logger)
        defer { self.orchestrator.cipher.releaseResources() }
        let started = Orchestrator.now()
        var report = try await Blocking.$niceness.withValue(self.orchestrator.jobNiceness) { try await self.perform(started: started) }
        report.finished = Orchestrator.now()
        self.orchestrator.status.recordDrill(report.ok ? .completed : .error, at: report.finished)
        return report
    }

    private func perform(started: Int64) async throws -> Report {
        let stateDirectory = self.orchestrator.status.directory
        let own = try ApplianceIdentity.read(stateDirectory: stateDirectory)?.id
        let selection = BackupSelection(store: self.store, cipher: self.orchestrator.cipher, passphrase: self.passphrase, stateDirectory: stateDirectory)
        let chosen = try await selection.choose(name: self.backup, appliance: self.appliance, own: own, anyOwnerByName: true, allowUnauthenticated: false).backup
        var logger = self.orchestrator.logger
        logger[metadataKey: "job"] = "drill"
        logger[metadataKey: "backup"] = "\(SafeText.escaped(chosen.name))"
        let staging = try StagingArea(base: self.orchestrator.stagingBase, kind: "drill")
        defer { staging.remove() }
        var scratch = self.orchestrator
        scratch.applianceRoot = try staging.makeDirectory("root")
        let unpacker = self.orchestrator.unpacker(store: self.store, passphrase: self.passphrase)
        var results: [ComponentResult] = []
        let total = self.manifest.components.count
        for component in self.manifest.components {
            if let stopped = self.orchestrator.cancellation.error { throw stopped }
            guard let stored = chosen.index.component(named: component.name) else {
                results.append(ComponentResult(name: component.name, status: .skipped, message: "not in this backup"))
                continue
            }
            guard stored.outcome == "ok" else {
                results.append(ComponentResult(name: component.name, status: .skipped, message: "not in this backup: it failed at backup time"))
                continue
            }
            self.orchestrator.onProgress(JobProgress(job: "drill", phase: "restoring", component: component.name, completedComponents: results.count, totalComponents: total, bytes: 0))
            do {
                let bytes = try await self.drill(component, stored: stored, backup: chosen.name, staging: staging, scratch: scratch, unpacker: unpacker)
                results.append(ComponentResult(name: component.name, status: .ok, message: "restored into the scratch root and read back unchanged", bytes: bytes))
            } catch {
                let failure = BackupError.wrap(error, component: component.name)
                logger.error("drill failed", metadata: ["component": "\(component.name)", "error": "\(failure.description)"])
                results.append(ComponentResult(name: component.name, status: .failed, message: failure.message))
            }
        }
        let ok = !results.contains { $0.status == .failed } && results.contains { $0.status == .ok }
        logger.info("drill finished", metadata: ["ok": "\(ok)"])
        return Report(backup: chosen.name, location: self.store.location(of: chosen.name), ok: ok, components: results, started: started, finished: started)
    }

    /// One component's round trip; throws what went wrong, in words that say at which step.
    private func drill(_ component: ManifestComponent, stored: SealedIndex.Component, backup: String, staging: StagingArea, scratch: Orchestrator, unpacker: ComponentUnpacker) async throws -> UInt64 {
        guard stored.plugin == component.plugin else {
            throw BackupError(.invalidInput, "backed up by plugin '\(SafeText.escaped(stored.plugin, limit: 80))', restored by this manifest with '\(component.plugin)'")
        }
        guard let plugin = self.orchestrator.registry.plugin(id: component.plugin) else {
            throw BackupError(.pluginFailed, "plugin '\(component.plugin)' is not installed")
        }
        let data = try staging.makeDirectory(component.name + "/data")
        let again = try staging.makeDirectory(component.name + "/again")
        let bytes = try await unpacker.unpack(stored, backup: backup, into: data)
        let unpacked = try await Blocking.run("gwbackup.preview") { try TreeInventory(data, ignoring: TreeComparison.isPluginRecord) }
        try await Self.step("verify of the backup") { _ = try await plugin.verify(scratch.context(for: component, staging: data)) }
        var restoreContext = scratch.context(for: component, staging: data)
        restoreContext.isScratchRoot = true
        try await Self.step("restore into the scratch root") { _ = try await plugin.restore(restoreContext) }
        try await Self.step("collect from the scratch root") { _ = try await plugin.collect(scratch.context(for: component, staging: again)) }
        let collected = try await Blocking.run("gwbackup.preview") { try TreeInventory(again, ignoring: TreeComparison.isPluginRecord) }
        let changes = TreeComparison.changes(from: unpacked, to: collected, limit: 5)
        guard changes.isEmpty else {
            let paths = changes.files.map { "\($0.path) \($0.change.rawValue)\($0.details.isEmpty ? "" : " (\($0.details.joined(separator: ", ")))")" }
            throw BackupError(.corrupted, "what the scratch root gave back differs from the backup: \(changes.summary): \(paths.joined(separator: "; "))\(changes.truncated ? "; …" : "")")
        }
        try await Self.step("verify of what was read back") { _ = try await plugin.verify(scratch.context(for: component, staging: again)) }
        try FileTree.remove(data)
        try FileTree.remove(again)
        return bytes
    }

    /// Runs a plugin step; its failure says which step it was.
    private static func step(_ name: String, _ body: () async throws -> Void) async throws {
        do { try await body() } catch {
            let failure = BackupError.wrap(error, as: .pluginFailed)
            throw BackupError(failure.code, "\(name) failed: \(failure.message)")
        }
    }
}

import BackupModel
import BackupPOSIX
import Foundation

/// `gwbackup diff A B`: what differs between two authenticated backups, component by component and
/// path by path (`TreeComparison`). Both are chosen by name from the authenticated catalog, whoever
/// took them (reading changes nothing), and unpacked one component at a time into private staging,
/// which is removed as soon as the component is compared.
public struct BackupDiff: Sendable {
    /// What the comparison found.
    public struct Report: Codable, Sendable, Equatable {
        /// The backups compared: changes are seen from `from` towards `to`. `to` is `appliance` when
        /// a backup was compared with the appliance as it is now.
        public var from: String
        public var to: String
        /// One per component of either side; `changes` for those both sides hold.
        public var components: [ComponentResult]
        /// True when anything differs.
        public var changed: Bool

        public init(from: String, to: String, components: [ComponentResult]) {
            self.from = from
            self.to = to
            self.components = components
            self.changed = components.contains { ($0.changes.map { !$0.isEmpty } ?? false) || $0.status == .warning }
        }
    }

    var orchestrator: Orchestrator
    var store: any BackupStore
    var passphrase: Secret
    /// The appliance's manifest, when known: a component it names with the plugin both backups
    /// used is verified on both sides, and the plugin's counts (rows per table) compared.
    var manifest: Manifest?

    public init(orchestrator: Orchestrator, store: any BackupStore, passphrase: Secret, manifest: Manifest? = nil) {
        self.orchestrator = orchestrator
        self.store = store
        self.passphrase = passphrase
        self.manifest = manifest
    }

    /// The plugin's counts of both staged trees, for a component the manifest runs with the plugin
    /// both backups used; nil when there is none to ask. After the inventories: verify may leave
    /// files of its own.
    private func counts(of name: String, plugin: String, left: String, right: String) async throws -> (before: [String: Int64], after: [String: Int64])? {
        guard let component = self.manifest?.components.first(where: { $0.name == name && $0.plugin == plugin }),
              let instance = self.orchestrator.registry.plugin(id: plugin), instance.offersVerify
        else { return nil }
        let before = try await instance.verify(self.orchestrator.context(for: component, staging: left)).counts
        let after = try await instance.verify(self.orchestrator.context(for: component, staging: right)).counts
        return (before, after)
    }

    /// Compares backup `from` with backup `to`.
    public func run(from: String, to: String) async throws -> Report {
        defer { self.orchestrator.cipher.releaseResources() }
        let stateDirectory = self.orchestrator.status.directory
        let own = try ApplianceIdentity.read(stateDirectory: stateDirectory)?.id
        let selection = BackupSelection(store: self.store, cipher: self.orchestrator.cipher, passphrase: self.passphrase, stateDirectory: stateDirectory)
        let first = try await selection.choose(name: from, appliance: nil, own: own, anyOwnerByName: true, allowUnauthenticated: false).backup
        let second = try await selection.choose(name: to, appliance: nil, own: own, anyOwnerByName: true, allowUnauthenticated: false).backup
        let staging = try StagingArea(base: self.orchestrator.stagingBase, kind: "diff")
        defer { staging.remove() }
        let unpacker = self.orchestrator.unpacker(store: self.store, passphrase: self.passphrase)
        let names = first.index.components.map(\.name) + second.index.components.map(\.name).filter { first.index.component(named: $0) == nil }
        var results: [ComponentResult] = []
        for name in names {
            if let stopped = self.orchestrator.cancellation.error { throw stopped }
            let (a, b) = (first.index.component(named: name), second.index.component(named: name))
            guard let a, let b else {
                let only = a == nil ? second.name : first.name
                results.append(ComponentResult(name: name, status: .warning, message: "only in \(SafeText.escaped(only))"))
                continue
            }
            guard a.outcome == "ok", b.outcome == "ok" else {
                results.append(ComponentResult(name: name, status: .skipped, message: "failed at backup time in \(SafeText.escaped(a.outcome == "ok" ? second.name : first.name)): nothing to compare"))
                continue
            }
            self.orchestrator.onProgress(JobProgress(job: "diff", phase: "comparing", component: name, completedComponents: results.count, totalComponents: names.count, bytes: 0))
            do {
                let left = try staging.makeDirectory(name + "/a/data")
                let right = try staging.makeDirectory(name + "/b/data")
                let bytes = try await unpacker.unpack(a, backup: first.name, into: left) + (try await unpacker.unpack(b, backup: second.name, into: right))
                var changes = try await Blocking.run("gwbackup.preview") {
                    TreeComparison.changes(
                        from: try TreeInventory(left, ignoring: TreeComparison.isPluginRecord),
                        to: try TreeInventory(right, ignoring: TreeComparison.isPluginRecord))
                }
                if a.plugin == b.plugin, let counts = try await self.counts(of: name, plugin: a.plugin, left: left, right: right) {
                    changes.compareCounts(from: counts.before, to: counts.after)
                }
                try FileTree.remove(staging.path + "/" + name)
                var result = ComponentResult(name: name, status: .ok, message: changes.summary, bytes: bytes)
                result.changes = changes
                if a.plugin != b.plugin { result.message += "; collected by plugin \(SafeText.escaped(a.plugin, limit: 80)), then by \(SafeText.escaped(b.plugin, limit: 80))" }
                results.append(result)
            } catch {
                throw BackupError.wrap(error, component: name)
            }
        }
        return Report(from: first.name, to: second.name, components: results)
    }
}

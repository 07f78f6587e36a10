import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// One external plugin step's sandbox, from preparation to cleanup: the writable staging directory,
/// and for a restore (or its rollback) an overlay over each directory the component's declared
/// paths lie in, whose changes are checked and applied after the step (`OverlayChanges`).
struct SandboxedStep {
    /// What the launcher is asked for; nil when plugins run unconfined (`--no-sandbox`).
    let sandbox: ProcessSandbox?
    private let action: String
    private let pluginID: String
    private let root: String
    private let declared: DeclaredPaths
    /// The overlaid directories relative to the root, with their upper layers.
    private let layers: [(target: String, upper: String)]
    /// Holds the overlays' upper and work directories; removed by `remove()`.
    private let scratch: String?
    /// Directories made in the root before the step (outermost first), removed if still empty
    /// when the step's changes are not applied.
    private var madeDirectories: [String] = []

    init(plugin: ExternalPlugin, action: String, context: PluginContext, enabled: Bool) throws {
        self.action = action
        self.pluginID = plugin.id
        self.root = context.applianceRoot
        self.declared = DeclaredPaths(schema: plugin.parameterSchema, parameters: context.parameters)
        guard enabled else {
            (self.sandbox, self.layers, self.scratch, self.madeDirectories) = (nil, [], nil, [])
            return
        }
        let network = plugin.descriptor.network ?? false
        guard action == "restore" else {
            var writable = [context.stagingDirectory]
            if action == "collect" {
                for directory in self.declared.companionDirectories {
                    let absolute = FileSet.join(context.applianceRoot, directory)
                    if try FileStatus.of(absolute)?.kind == .directory { writable.append(absolute) }
                }
            }
            self.sandbox = ProcessSandbox(writable: writable, network: network, servicesVisible: action == "activate")
            (self.layers, self.scratch, self.madeDirectories) = ([], nil, [])
            return
        }
        // The directories the declared paths lie in are made first where missing (a restore onto
        // replacement hardware): each overlay then covers just them, never a wide ancestor such as
        // /var/lib, which holds gwbackup's own staging area. A failed step removes them again.
        let root = try ConfinedDirectory(path: context.applianceRoot)
        var made: [String] = []
        for directory in self.declared.parentDirectories {
            made += try root.makeDirectories(directory)
        }
        self.madeDirectories = made
        let targets = try self.declared.overlayDirectories(root: context.applianceRoot)
        let staging = context.stagingDirectory
        let scratch = (staging as NSString).deletingLastPathComponent + "/.sandbox-" + UUID().uuidString.prefix(8).lowercased()
        try FileTree.makePrivateDirectory(scratch)
        var overlays: [ProcessSandbox.Overlay] = []
        var layers: [(String, String)] = []
        do {
            let realScratch = ExternalPluginDescriptor.realPath(scratch) ?? scratch
            for (index, target) in targets.enumerated() {
                let absolute = FileSet.join(context.applianceRoot, target)
                let realTarget = ExternalPluginDescriptor.realPath(absolute) ?? absolute
                if realScratch.hasPrefix(realTarget.hasSuffix("/") ? realTarget : realTarget + "/") {
                    throw BackupError(.pluginFailed, "cannot sandbox the restore: the staging area \(staging) lies inside \(absolute), which the restore of \(self.declared.patterns.joined(separator: ", ")) overlays; use a state directory outside it")
                }
                let layer = scratch + "/\(index)"
                try FileTree.makePrivateDirectory(layer)
                try FileTree.makePrivateDirectory(layer + "/upper")
                try FileTree.makePrivateDirectory(layer + "/work")
                // The overlaid directory shows the upper layer's own owner and mode: the target's, so
                // the step sees it as it is, and a change it makes is one (`OverlayChanges`).
                if let status = try FileStatus.of(realTarget) {
                    _ = chown(layer + "/upper", status.uid, status.gid)
                    _ = chmod(layer + "/upper", mode_t(status.mode))
                }
                overlays.append(ProcessSandbox.Overlay(target: realTarget, upper: layer + "/upper", work: layer + "/work"))
                layers.append((target, layer + "/upper"))
            }
        } catch {
            try? FileTree.remove(scratch)
            Self.removeEmpty(made, root: root)
            throw error
        }
        self.sandbox = ProcessSandbox(writable: [staging], overlays: overlays, network: network)
        self.layers = layers
        self.scratch = scratch
    }

    /// After a restore that succeeded: checks every change against the declared paths, then applies
    /// them all; throws (having applied none) when one lies outside or is of a kind a restore never
    /// puts. A failed step's changes are dropped with the scratch directory.
    func applyChanges(after outcome: ProcessOutcome) throws {
        guard !self.layers.isEmpty else { return }
        let root = try ConfinedDirectory(path: self.root)
        guard outcome.status == 0, !outcome.signalled, !outcome.timedOut, !outcome.cancelled,
              let response = try? JSONDecoder().decode(ExternalPlugin.Response.self, from: outcome.stdout), response.status == "ok"
        else {
            Self.removeEmpty(self.madeDirectories, root: root)
            return
        }
        do {
            try self.check(and: root)
        } catch {
            Self.removeEmpty(self.madeDirectories, root: root)
            throw error
        }
    }

    /// Reads every layer's changes, refuses them all if one is not allowed, else applies them.
    private func check(and root: ConfinedDirectory) throws {
        let changes = try self.layers.map { try OverlayChanges(upper: $0.upper, target: $0.target, root: root, declared: self.declared) }
        let name = "plugin '\(self.pluginID)' \(self.action)"
        let outside = changes.flatMap(\.outside)
        if !outside.isEmpty {
            let declared = self.declared.patterns.isEmpty ? "none" : self.declared.patterns.joined(separator: ", ")
            throw BackupError(.pluginFailed, "\(name) wrote outside the paths its component declares: \(Self.listed(outside)) (declared: \(declared)); nothing it wrote was applied")
        }
        let refused = changes.flatMap(\.refused)
        if !refused.isEmpty {
            throw BackupError(.pluginFailed, "\(name) left what a restore never puts on an appliance: \(Self.listed(refused)); nothing it wrote was applied")
        }
        for change in changes { try change.apply() }
    }

    /// Removes `directories` (made before the step) innermost first, each only if empty.
    private static func removeEmpty(_ directories: [String], root: ConfinedDirectory) {
        for directory in directories.reversed() { try? root.removeEmptyDirectory(directory) }
    }

    /// Removes the overlays' directories.
    func remove() {
        if let scratch { try? FileTree.remove(scratch) }
    }

    private static func listed(_ paths: [String]) -> String {
        paths.count <= 10 ? paths.joined(separator: ", ") : paths.prefix(10).joined(separator: ", ") + " and \(paths.count - 10) more"
    }
}

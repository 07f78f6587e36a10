import Foundation

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

    init(plugin: ExternalPlugin, action: String, context: PluginContext, enabled: Bool) throws {
        self.action = action
        self.pluginID = plugin.id
        self.root = context.applianceRoot
        self.declared = DeclaredPaths(schema: plugin.parameterSchema, parameters: context.parameters)
        guard enabled else {
            (self.sandbox, self.layers, self.scratch) = (nil, [], nil)
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
            (self.layers, self.scratch) = ([], nil)
            return
        }
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
                overlays.append(ProcessSandbox.Overlay(target: realTarget, upper: layer + "/upper", work: layer + "/work"))
                layers.append((target, layer + "/upper"))
            }
        } catch {
            try? FileTree.remove(scratch)
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
        guard !self.layers.isEmpty, outcome.status == 0, !outcome.signalled, !outcome.timedOut, !outcome.cancelled,
              let response = try? JSONDecoder().decode(ExternalPlugin.Response.self, from: outcome.stdout), response.status == "ok"
        else { return }
        let root = try ConfinedDirectory(path: self.root)
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

    /// Removes the overlays' directories.
    func remove() {
        if let scratch { try? FileTree.remove(scratch) }
    }

    private static func listed(_ paths: [String]) -> String {
        paths.count <= 10 ? paths.joined(separator: ", ") : paths.prefix(10).joined(separator: ", ") + " and \(paths.count - 10) more"
    }
}

import BackupModel
import BackupPOSIX
import Foundation
import Logging

/// A plugin directory entry that could not be loaded, kept so `gwbackup plugins` can report it.
public struct PluginProblem: Sendable, Equatable, CustomStringConvertible {
    /// The plugin's directory.
    public var location: String
    /// What is wrong with it.
    public var message: String

    public init(location: String, message: String) {
        self.location = location
        self.message = message
    }

    public var description: String { "\(self.location): \(self.message)" }
}

/// Every plugin available to a run: the built-in list plus the external plugins found in plugin
/// directories. The first plugin with an id wins; later ones are reported as problems.
public struct PluginRegistry: Sendable {
    /// The plugins by id, in the order found.
    public private(set) var plugins: [any ComponentPlugin] = []
    /// Descriptors that were found but could not be used.
    public private(set) var problems: [PluginProblem] = []

    /// An empty registry.
    public init() {}

    /// Built-in plugins plus the external ones found in `directories` (missing directories are skipped).
    /// `programDirectories` maps a plugin directory to where its compiled executables may also be
    /// (the shipped directory to the gwbackup binary's own, see `ExternalPluginDescriptor.check`).
    /// External plugins run through `launcher`; without one (a check of manifests only) they are
    /// reported, not loaded.
    public init(builtIns: [any ComponentPlugin], directories: [String], programDirectories: [String: String] = [:], launcher: (any ProcessLauncher)? = nil) {
        for plugin in builtIns { self.register(plugin) }
        for directory in directories {
            let names: [String]
            do {
                guard try FileStatus.of(directory)?.kind == .directory else { continue }
                names = try FileTree.names(in: directory)
            } catch {
                self.problems.append(PluginProblem(location: directory, message: BackupError.wrap(error).message))
                continue
            }
            // `sdk` holds the plugin SDKs beside the shipped plugins (plugins/sdk/c): not a plugin.
            for name in names where name != "sdk" && !name.hasPrefix(".") {
                let pluginDirectory = directory + "/" + name
                guard (try? FileStatus.of(pluginDirectory))??.kind == .directory else { continue }
                do {
                    let (descriptor, executable) = try ExternalPluginDescriptor.load(directory: pluginDirectory, programDirectory: programDirectories[directory])
                    guard let launcher else { throw BackupError(.pluginFailed, "external plugins cannot run here (no process launcher)") }
                    self.register(ExternalPlugin(descriptor: descriptor, directory: pluginDirectory, executablePath: executable, launcher: launcher))
                } catch {
                    self.problems.append(PluginProblem(location: pluginDirectory, message: BackupError.wrap(error).message))
                }
            }
        }
    }

    /// Adds a plugin unless one with its id is already registered (that is reported as a problem).
    public mutating func register(_ plugin: any ComponentPlugin) {
        if let existing = self.plugin(id: plugin.id) {
            self.problems.append(PluginProblem(
                location: plugin.origin.description,
                message: "plugin id '\(plugin.id)' is already provided by \(existing.origin); this one is ignored"))
            return
        }
        self.plugins.append(plugin)
    }

    /// The plugin with `id`.
    public func plugin(id: String) -> (any ComponentPlugin)? {
        self.plugins.first { $0.id == id }
    }
}

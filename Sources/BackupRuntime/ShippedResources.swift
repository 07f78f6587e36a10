import BackupCore
import BackupModel
import BackupPOSIX
import Foundation

/// Finds what ships beside the binary (`manifests/`, `plugins/`), whether it runs from a checkout,
/// through `swift run`, or installed under a prefix (`PREFIX/share/gwbackup`).
public struct ShippedResources: Sendable {
    /// The directory holding `manifests/` and `plugins/`, when one was found.
    public var directory: String?

    /// The default manifest's path, when shipped files were found.
    public var defaultManifestPath: String? {
        self.directory.map { $0 + "/manifests/flowgateway.json" }
    }

    /// The shipped plugin directory, when found: `PREFIX/lib/gwbackup/plugins` beside a
    /// `PREFIX/share/gwbackup` when it exists (the Debian package's layout: plugins hold compiled
    /// executables, which belong under lib), else `plugins/` beside the manifests.
    public var pluginDirectory: String? {
        guard let directory = self.directory else { return nil }
        let share = "/share/gwbackup"
        if directory.hasSuffix(share) {
            let lib = String(directory.dropLast(share.count)) + "/lib/gwbackup/plugins"
            if FileManager.default.fileExists(atPath: lib) { return lib }
        }
        return directory + "/plugins"
    }

    public init(directory: String?) {
        self.directory = directory
    }

    /// Looks in `$GWBACKUP_SHARE`, then beside and above the executable, then the usual prefixes,
    /// then the working directory.
    public static func locate(environment: [String: String] = ProcessInfo.processInfo.environment) -> ShippedResources {
        var candidates: [String] = []
        if let share = environment["GWBACKUP_SHARE"], !share.isEmpty { candidates.append(share) }
        if let executable = try? FileTree.readLink("/proc/self/exe") {
            var directory = (executable as NSString).deletingLastPathComponent
            for _ in 0..<6 {
                candidates.append(directory)
                candidates.append(directory + "/share/gwbackup")
                let parent = (directory as NSString).deletingLastPathComponent
                if parent == directory { break }
                directory = parent
            }
        }
        candidates += ["/usr/local/share/gwbackup", "/usr/share/gwbackup", FileManager.default.currentDirectoryPath]
        for candidate in candidates where FileManager.default.fileExists(atPath: candidate + "/manifests/flowgateway.json") {
            return ShippedResources(directory: candidate)
        }
        return ShippedResources(directory: nil)
    }

    /// The default manifest: the shipped file, or the copy compiled into the binary.
    public func defaultManifest() throws -> (Manifest, source: String) {
        if let path = self.defaultManifestPath {
            return (try Manifest.load(path: path), path)
        }
        return (try Manifest.decode(Data(EmbeddedManifest.flowgateway.utf8), source: "embedded manifest"), "embedded manifest")
    }
}

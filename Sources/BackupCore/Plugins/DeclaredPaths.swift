import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// The paths a component's restore may change: the values of its plugin's path parameters
/// (`"path": true` in the schema), with the companions the schema names beside them. A sandboxed
/// restore's changes are checked against these before any reaches the appliance.
public struct DeclaredPaths: Sendable, Equatable {
    /// Normalized relative paths; `*`, `?` and `[` match within one name.
    public let patterns: [String]
    /// The directories of paths declared with companions (relative): a live database needs to
    /// write its lock files there even to be read, so a collect may write in them.
    public let companionDirectories: [String]

    public init(patterns: [String], companionDirectories: [String] = []) {
        self.patterns = Array(Set(patterns.compactMap(RelativePath.normalized))).sorted()
        self.companionDirectories = Array(Set(companionDirectories.compactMap(RelativePath.normalized))).sorted()
    }

    /// The paths `parameters` declare under `schema`.
    public init(schema: ParameterSchema, parameters: [String: JSONValue]) {
        var patterns: [String] = []
        var directories: [String] = []
        for (name, spec) in schema.parameters where spec.path {
            let values = parameters[name].map { $0.stringValue.map { [$0] } ?? $0.stringArrayValue ?? [] } ?? []
            for value in values {
                patterns.append(value)
                for suffix in spec.companions ?? [] where !suffix.contains("/") { patterns.append(value + suffix) }
                if spec.companions?.isEmpty == false, !RelativePath.isPattern(value), value.contains("/") {
                    directories.append((value as NSString).deletingLastPathComponent)
                }
            }
        }
        self.init(patterns: patterns, companionDirectories: directories)
    }

    /// True when `relative` is a declared path, matches a declared pattern, or lies below one.
    public func covers(_ relative: String) -> Bool {
        let components = relative.split(separator: "/").map(String.init)
        for length in stride(from: components.count, through: 1, by: -1) {
            let prefix = components.prefix(length).joined(separator: "/")
            if self.patterns.contains(where: { fnmatch($0, prefix, FNM_PATHNAME) == 0 }) { return true }
        }
        return false
    }

    /// True when `relative` is a directory on the way to a declared path (a restore onto a fresh
    /// root creates it).
    public func leadsTo(_ relative: String) -> Bool {
        let depth = relative.split(separator: "/").count
        return self.patterns.contains { pattern in
            let components = pattern.split(separator: "/").map(String.init)
            guard components.count > depth else { return false }
            return fnmatch(components.prefix(depth).joined(separator: "/"), relative, FNM_PATHNAME) == 0
        }
    }

    /// The directory each declared path lies in (above its first name with a pattern), relative;
    /// none for a path directly below the root.
    public var parentDirectories: [String] {
        Array(Set(self.patterns.compactMap { pattern -> String? in
            var components = pattern.split(separator: "/").map(String.init)
            if let glob = components.firstIndex(where: RelativePath.isPattern) { components = Array(components.prefix(glob + 1)) }
            components.removeLast()
            return components.isEmpty ? nil : components.joined(separator: "/")
        })).sorted()
    }

    /// The directories (relative; "" is the root) a sandboxed restore gets a writable overlay over:
    /// for each path, the deepest existing real directory above its first name with a pattern in it
    /// (the directory a plugin creates its temporaries in), none inside another. Throws when one
    /// would be the root itself and the root is `/`: overlaying `/` would hide every other mount.
    public func overlayDirectories(root: String) throws -> [String] {
        var chosen: [String] = []
        for pattern in self.patterns {
            var components = pattern.split(separator: "/").map(String.init)
            if let glob = components.firstIndex(where: RelativePath.isPattern) { components = Array(components.prefix(glob + 1)) }
            components.removeLast()
            var candidate: [String] = []
            for component in components {
                let next = (candidate + [component]).joined(separator: "/")
                guard try FileStatus.of(FileSet.join(root, next))?.kind == .directory else { break }
                candidate.append(component)
            }
            chosen.append(candidate.joined(separator: "/"))
        }
        let directories = Set(chosen).sorted().reduce(into: [String]()) { kept, directory in
            if !kept.contains(where: { $0.isEmpty || directory == $0 || directory.hasPrefix($0 + "/") }) { kept.append(directory) }
        }
        if directories.contains(""), (root as NSString).standardizingPath == "/" {
            let names = self.patterns.filter { !$0.contains("/") || (try? FileStatus.of("/" + $0.split(separator: "/")[0]))?.kind != .directory }
            throw BackupError(.pluginFailed, "cannot sandbox a restore of \(names.joined(separator: ", ")): the nearest existing directory is / itself, which cannot be overlaid; create the directory first, or run with --no-sandbox")
        }
        return directories
    }
}

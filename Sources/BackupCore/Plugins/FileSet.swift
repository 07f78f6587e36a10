import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Copies a set of paths and globs between an appliance root and a staging directory, keeping modes,
/// owners (where permitted), mtimes and symlinks. The work behind the `fileset` plugin, shared by
/// every plugin that backs up files.
///
/// Staging layout: the files at their paths relative to the root, plus `.gwbackup-fileset.json`
/// recording the patterns, what they matched and which literal paths were absent, so a restore can
/// make the appliance identical to the backed-up state (including removing files that appeared since).
public struct FileSet: Sendable {
    /// The name of the record kept beside the files in staging.
    public static let recordName = ".gwbackup-fileset.json"

    /// What a collection saw.
    struct Record: Codable {
        var format: Int
        var patterns: [String]
        var entries: [String]
        var missing: [String]
        /// Symlinks that an earlier version left out of the backup (it refused links pointing outside
        /// the tree); a restore leaves them alone. No longer written.
        var leftOut: [String]? = nil
    }

    /// The paths and glob patterns, relative to the appliance root.
    public var patterns: [String]

    public init(patterns: [String]) {
        self.patterns = patterns
    }

    /// Copies every match from `root` into `staging`.
    ///
    /// With `linkingFiles`, files are hard-linked into staging where the filesystem allows: no second
    /// copy of the data, in time or in disk space. For a backup, whose staging is archived at once
    /// (it then reads the live files, as `tar` would); not for the state saved before a restore, which
    /// must stay as it was even if something on the appliance rewrites a file in place meanwhile.
    public func collect(root: String, staging: String, linkingFiles: Bool = false) throws -> PluginReport {
        var warnings: [String] = []
        var matches: [String] = []
        var missing: [String] = []
        for pattern in self.patterns {
            guard let normalized = RelativePath.normalized(pattern) else {
                throw BackupError(.invalidManifest, "path \(RelativePath.problem(pattern) ?? pattern)")
            }
            if RelativePath.isPattern(normalized) {
                let found = try Self.expand(normalized, root: root)
                if found.isEmpty { warnings.append("'\(normalized)' matched nothing") }
                matches.append(contentsOf: found)
            } else if try FileStatus.of(Self.join(root, normalized)) != nil {
                matches.append(normalized)
            } else {
                warnings.append("'\(normalized)' does not exist on the appliance; recorded as absent")
                missing.append(normalized)
            }
        }
        let entries = Self.withoutNested(matches)
        var createdParents: [(String, FileStatus)] = []
        for entry in entries {
            var prefix = ""
            for component in entry.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + component
                let stagedParent = Self.join(staging, prefix)
                if try FileStatus.of(stagedParent) == nil {
                    try SystemCall.retrying("mkdir", stagedParent) { mkdir(stagedParent, 0o700) }
                    if let status = try FileStatus.of(Self.join(root, prefix)) { createdParents.append((stagedParent, status)) }
                }
            }
            try FileTree.copy(Self.join(root, entry), to: Self.join(staging, entry), linkingFiles: linkingFiles) { skipped in
                warnings.append("skipped \(skipped): not a file, directory or symlink")
            }
        }
        // Parents get their metadata last: a read-only parent must not stop its children being written.
        for (path, status) in createdParents.reversed() { try FileTree.applyMetadata(status, to: path) }
        let record = Record(format: 1, patterns: self.patterns, entries: entries, missing: missing)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(record), to: Self.join(staging, Self.recordName))
        return PluginReport(warnings: warnings)
    }

    /// Makes the paths under `root` identical to what `staging` holds.
    public func restore(root: String, staging: String) throws -> PluginReport {
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: try FileTree.readFile(Self.join(staging, Self.recordName)))
        } catch {
            throw BackupError(.corrupted, "the staged component has no valid \(Self.recordName): \(BackupError.wrap(error).message)")
        }
        for path in record.entries + record.missing where RelativePath.normalized(path) != path {
            throw BackupError(.unsafeArchive, "the staged component names an unsafe path '\(path)'")
        }
        // Remove what matches the patterns now but was not there at backup time.
        let kept = Set(record.entries + (record.leftOut ?? []))
        for pattern in record.patterns {
            guard let normalized = RelativePath.normalized(pattern), RelativePath.isPattern(normalized) else { continue }
            for match in try Self.expand(normalized, root: root) where !kept.contains(match) && !Self.isBelow(match, anyOf: record.entries) {
                try FileTree.remove(Self.join(root, match))
            }
        }
        for absent in record.missing {
            try FileTree.remove(Self.join(root, absent))
        }
        for entry in record.entries {
            try self.ensureParents(of: entry, root: root, staging: staging)
            try Self.replace(Self.join(root, entry), with: Self.join(staging, entry))
        }
        return PluginReport()
    }

    /// Creates missing parents of `entry` under `root`, with the metadata they had at backup time.
    private func ensureParents(of entry: String, root: String, staging: String) throws {
        var prefix = ""
        var created: [(String, FileStatus)] = []
        for component in entry.split(separator: "/").dropLast() {
            prefix += (prefix.isEmpty ? "" : "/") + component
            let target = Self.join(root, prefix)
            if let status = try FileStatus.of(target) {
                guard status.kind == .directory else {
                    throw BackupError(.storage, "cannot restore \(entry): \(target) exists and is not a directory")
                }
                continue
            }
            try SystemCall.retrying("mkdir", target) { mkdir(target, 0o755) }
            if let staged = try FileStatus.of(Self.join(staging, prefix)) { created.append((target, staged)) }
        }
        for (path, status) in created.reversed() { try FileTree.applyMetadata(status, to: path) }
    }

    /// Puts `source` (moved, or copied across filesystems) at `destination`, replacing what is there
    /// with a rename, so a crash leaves either the old or the new entry, never half of one.
    static func replace(_ destination: String, with source: String) throws {
        let directory = (destination as NSString).deletingLastPathComponent
        let name = (destination as NSString).lastPathComponent
        let temporary = "\(directory)/.gwbackup-new-\(UUID().uuidString.prefix(8))-\(name)"
        // Staged data is used once: move it when staging shares the filesystem, copy it otherwise.
        if Glibc.rename(source, temporary) != 0 {
            guard errno == EXDEV else { throw SystemCall.error("rename", source) }
            do {
                try FileTree.copy(source, to: temporary)
            } catch {
                try? FileTree.remove(temporary)
                throw error
            }
        }
        if let existing = try FileStatus.of(destination), existing.kind == .directory {
            let old = "\(directory)/.gwbackup-old-\(UUID().uuidString.prefix(8))-\(name)"
            try FileTree.rename(destination, to: old)
            try FileTree.rename(temporary, to: destination)
            try FileTree.remove(old)
        } else {
            try FileTree.rename(temporary, to: destination)
        }
    }

    /// Expands a glob relative to `root` into sorted relative paths.
    static func expand(_ pattern: String, root: String) throws -> [String] {
        let prefix = Self.join(root, "")
        var result = glob_t()
        defer { globfree(&result) }
        let status = glob(prefix + pattern, GLOB_NOSORT, nil, &result)
        if status == GLOB_NOMATCH { return [] }
        guard status == 0 else { throw BackupError(.system, "glob \(pattern): error \(status)") }
        var matches: [String] = []
        for index in 0..<Int(result.gl_pathc) {
            guard let pointer = result.gl_pathv[index] else { continue }
            let path = String(cString: pointer)
            guard path.hasPrefix(prefix) else { continue }
            if let relative = RelativePath.normalized(String(path.dropFirst(prefix.count))) { matches.append(relative) }
        }
        return matches.sorted()
    }

    /// `path` under `root`; a root of `/` gives `/path`.
    public static func join(_ root: String, _ path: String) -> String {
        let base = root.hasSuffix("/") ? String(root.dropLast()) : root
        return path.isEmpty ? base + "/" : base + "/" + path
    }

    /// Sorted, deduplicated paths without those already inside another.
    static func withoutNested(_ paths: [String]) -> [String] {
        var kept: [String] = []
        for path in Set(paths).sorted() where !isBelow(path, anyOf: kept) {
            kept.append(path)
        }
        return kept
    }

    static func isBelow(_ path: String, anyOf ancestors: [String]) -> Bool {
        ancestors.contains { path.hasPrefix($0 + "/") }
    }
}

import BackupModel
import BackupPOSIX
import Foundation
import Glibc

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
    public struct Record: Codable, Sendable {
        public var format: Int
        public var patterns: [String]
        public var entries: [String]
        public var missing: [String]
        /// Symlinks that an earlier version left out of the backup (it refused links pointing outside
        /// the tree); a restore leaves them alone. No longer written.
        public var leftOut: [String]? = nil
        /// Directories above an absent path that did not exist either: a restore of this record
        /// removes them again when they are empty, so a rollback also undoes the parents a restore
        /// created.
        public var absentParents: [String]? = nil
    }

    /// The paths and glob patterns, relative to the appliance root.
    public var patterns: [String]
    /// Whether restored files may keep setuid and setgid bits; otherwise they are removed, with a warning.
    public var allowSetID: Bool

    /// A file set over `patterns`, which come from the appliance's own manifest. On restore they,
    /// and not the record inside the backup, decide what may be written or removed.
    public init(patterns: [String], allowSetID: Bool = false) {
        self.patterns = patterns
        self.allowSetID = allowSetID
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
            // Not fsynced file by file: a backup archives staging at once, and a restore syncs the
            // filesystem once before its journal relies on the copies.
            try FileTree.copy(Self.join(root, entry), to: Self.join(staging, entry), linkingFiles: linkingFiles, syncingFiles: false) { skipped in
                warnings.append("skipped \(skipped): not a file, directory or symlink")
            }
        }
        // Parents get their metadata last: a read-only parent must not stop its children being written.
        for (path, status) in createdParents.reversed() { try FileTree.applyMetadata(status, to: path) }
        var absentParents: [String] = []
        for path in missing {
            var prefix = ""
            for component in path.split(separator: "/").dropLast() {
                prefix += (prefix.isEmpty ? "" : "/") + component
                if try FileStatus.of(Self.join(root, prefix)) == nil, !absentParents.contains(prefix) { absentParents.append(prefix) }
            }
        }
        let record = Record(format: 1, patterns: self.patterns, entries: entries, missing: missing, absentParents: absentParents.isEmpty ? nil : absentParents)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(record), to: Self.join(staging, Self.recordName))
        return PluginReport(warnings: warnings)
    }

    /// Checks what a backup staged before anything on the appliance changes: the record is well formed,
    /// names only paths within the declared patterns (and removes only declared literal paths), and
    /// every entry it names is in the archive. With `removingSetID` (restore, unless the component
    /// allows them) setuid/setgid bits are cleared on staged files, each with a warning.
    public func checkStaged(staging: String, removingSetID: Bool = false) throws -> (Record, [String]) {
        let record: Record
        do {
            record = try JSONDecoder().decode(Record.self, from: try FileTree.readStagedFile(Self.join(staging, Self.recordName), limit: 16 << 20))
        } catch {
            throw BackupError(.corrupted, "the staged component has no valid \(Self.recordName): \(SafeText.escaped(BackupError.wrap(error).message))")
        }
        let declared = try self.declaredPatterns()
        let literals = Set(declared.filter { !RelativePath.isPattern($0) })
        for path in record.entries + record.missing + (record.leftOut ?? []) + (record.absentParents ?? []) where RelativePath.normalized(path) != path {
            throw BackupError(.unsafeArchive, "the staged component names an unsafe path '\(SafeText.escaped(path, limit: 200))'")
        }
        for path in record.entries where !Self.isDeclared(path, by: declared) {
            throw BackupError(.unsafeArchive, "the backup's record names '\(SafeText.escaped(path, limit: 200))', which is outside this component's declared paths (\(declared.joined(separator: ", "))); nothing was restored")
        }
        for path in record.missing where !literals.contains(path) {
            throw BackupError(.unsafeArchive, "the backup's record would remove '\(SafeText.escaped(path, limit: 200))', which is not one of this component's declared paths; nothing was restored")
        }
        var warnings: [String] = []
        for entry in record.entries {
            guard try FileStatus.of(Self.join(staging, entry)) != nil else {
                throw BackupError(.corrupted, "the backup's record names '\(SafeText.escaped(entry, limit: 200))' but its archive does not hold it")
            }
            if removingSetID && !self.allowSetID { try Self.removeSetID(below: staging, entry, warnings: &warnings) }
        }
        return (record, warnings)
    }

    /// The declared patterns, normalized.
    func declaredPatterns() throws -> [String] {
        try self.patterns.map { pattern in
            guard let normalized = RelativePath.normalized(pattern) else {
                throw BackupError(.invalidManifest, "path \(RelativePath.problem(pattern) ?? pattern)")
            }
            return normalized
        }
    }

    /// Makes the declared paths under `root` identical to what `staging` holds.
    ///
    /// The record in staging came out of a backup: it is checked against the declared patterns before
    /// anything is used, and every change goes through a `ConfinedDirectory`, so nothing outside the
    /// declared paths is created, replaced or removed, and no symlink is followed on the way.
    /// `isRollback`: the staged record is this machine's own, taken just before the restore, so the
    /// parents it records as absent were created by that restore and go again when empty. A backup's
    /// record describes another time (or machine): its absent parents may be this appliance's own
    /// empty directories, which a restore leaves alone.
    public func restore(root: String, staging: String, isRollback: Bool = false) throws -> PluginReport {
        let (record, warnings) = try self.checkStaged(staging: staging, removingSetID: true)
        let confined = try ConfinedDirectory(path: root)
        // Remove what matches the declared patterns now but was not there at backup time.
        let kept = Set(record.entries + (record.leftOut ?? []))
        for pattern in try self.declaredPatterns() where RelativePath.isPattern(pattern) {
            for match in try Self.expand(pattern, root: root) where !kept.contains(match) && !Self.isBelow(match, anyOf: record.entries) {
                try confined.remove(match)
            }
        }
        for absent in record.missing {
            try confined.remove(absent)
        }
        // Deepest first; only parents of declared paths, only when empty.
        let parents = !isRollback ? [] : (record.absentParents ?? []).filter { parent in record.missing.contains { $0.hasPrefix(parent + "/") } }
        for parent in parents.sorted(by: { $0.count > $1.count }) {
            try confined.removeEmptyDirectory(parent)
        }
        for entry in record.entries {
            try confined.install(entry, from: Self.join(staging, entry)) { parent in try? FileStatus.of(Self.join(staging, parent)) }
        }
        return PluginReport(warnings: warnings)
    }

    /// True when `path` is a declared literal path or below one, or it (or one of its parents)
    /// matches a declared glob the way `glob(3)` would have found it.
    static func isDeclared(_ path: String, by declared: [String]) -> Bool {
        for pattern in declared {
            if !RelativePath.isPattern(pattern) {
                if path == pattern || path.hasPrefix(pattern + "/") { return true }
                continue
            }
            var prefix = ""
            for component in path.split(separator: "/") {
                prefix += (prefix.isEmpty ? "" : "/") + component
                if fnmatch(pattern, prefix, FNM_PATHNAME | FNM_PERIOD) == 0 { return true }
            }
        }
        return false
    }

    /// Clears setuid and setgid on staged regular files below `entry` (directories keep setgid: it
    /// only picks the group of new files).
    static func removeSetID(below staging: String, _ entry: String, warnings: inout [String]) throws {
        let path = Self.join(staging, entry)
        guard let status = try FileStatus.of(path) else { return }
        switch status.kind {
        case .directory:
            for name in try FileTree.names(in: path) { try removeSetID(below: staging, entry + "/" + name, warnings: &warnings) }
        case .regular where status.mode & 0o6000 != 0:
            try SystemCall.retrying("chmod", path) { chmod(path, mode_t(status.mode & ~0o6000)) }
            warnings.append("\(SafeText.escaped(entry, limit: 200)): setuid/setgid removed (the component does not allow them)")
        default:
            break
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
        FileTree.join(root, path)
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

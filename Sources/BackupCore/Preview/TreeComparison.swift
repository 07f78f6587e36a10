import BackupModel
import BackupPOSIX

/// Compares two inventories of a component's staged tree (`TreeInventory`): a pure decision over
/// what the walks found, apart from the I/O that found it. Files and links are reported added,
/// removed or updated; directories only when both sides hold them and they differ (mode, owner).
public enum TreeComparison {
    /// The most changed paths one component's report lists (the counts are always whole).
    public static let listLimit = 10_000

    /// Names of the records plugins keep beside the files in staging (`.gwbackup-fileset.json`,
    /// `.gwbackup-sqlite-config.json`): they describe a collection, they are not the appliance's.
    public static func isPluginRecord(_ path: String) -> Bool {
        !path.contains("/") && path.hasPrefix(".gwbackup-")
    }

    /// What changes from `old` to `new`: `added` is only in `new`, `removed` only in `old`.
    public static func changes(from old: TreeInventory, to new: TreeInventory, limit: Int = listLimit) -> ComponentChanges {
        var result = ComponentChanges()
        var changed: [FileChange] = []
        for path in Set(old.entries.keys).union(new.entries.keys).sorted() {
            let change: FileChange
            switch (old.entries[path], new.entries[path]) {
            case (nil, nil):
                continue
            case (nil, .some(let entry)) where entry.kind == .directory, (.some(let entry), nil) where entry.kind == .directory:
                // A directory on one side only: a staged tree holds the directories above its files,
                // which the other side may lack only because it has no file there (a collection of
                // an absent file stages nothing). Its files say what changes.
                continue
            case (nil, .some):
                result.added += 1
                change = FileChange(path: SafeText.escaped(path, limit: 4096), change: .added)
            case (.some, nil):
                result.removed += 1
                change = FileChange(path: SafeText.escaped(path, limit: 4096), change: .removed)
            case (.some(let before), .some(let after)):
                let details = Self.details(before, after)
                if details.isEmpty {
                    result.unchanged += 1
                    continue
                }
                result.updated += 1
                change = FileChange(path: SafeText.escaped(path, limit: 4096), change: .updated, details: details)
            }
            if changed.count < limit { changed.append(change) } else { result.truncated = true }
        }
        result.files = changed
        return result
    }

    /// How `before` and `after` differ; empty when they do not.
    static func details(_ before: TreeInventory.Entry, _ after: TreeInventory.Entry) -> [String] {
        guard before.kind == after.kind else {
            return ["kind \(Self.name(before.kind)) -> \(Self.name(after.kind))"]
        }
        var details: [String] = []
        if before.sha256 != after.sha256 || before.size != after.size { details.append("content") }
        if before.target != after.target { details.append("target") }
        if before.mode != after.mode { details.append("mode \(String(before.mode, radix: 8)) -> \(String(after.mode, radix: 8))") }
        if before.uid != after.uid || before.gid != after.gid {
            details.append("owner \(before.uid):\(before.gid) -> \(after.uid):\(after.gid)")
        }
        return details
    }

    private static func name(_ kind: FileStatus.Kind) -> String {
        switch kind {
        case .regular: "file"
        case .directory: "directory"
        case .symlink: "symlink"
        case .other: "special file"
        }
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import Foundation

/// What a tree holds, path by path (`TreeInventory`: walked without following any link a plugin
/// made, even in place of the root), as one line per path for comparing two trees and for messages:
/// kind, mode, owner, content (SHA-256) and, when asked, the modification time of files and links.
struct TreeFingerprint: Equatable {
    var entries: [String: String]

    init(_ root: String, times: Bool, ignoring: (String) -> Bool = { _ in false }) throws {
        let inventory: TreeInventory
        do {
            inventory = try TreeInventory(root, times: times, ignoring: ignoring)
        } catch let error as BackupError where error.code == .pluginFailed {
            throw BackupError(.pluginFailed, "\(error.message) (the kit follows no link a plugin made)")
        }
        self.entries = inventory.entries.mapValues(Self.line)
    }

    /// One entry as a line, for comparing and for messages.
    private static func line(_ entry: TreeInventory.Entry) -> String {
        if let target = entry.target { return "symlink -> \(target)" }
        var line = "\(entry.kind) mode=\(String(entry.mode, radix: 8)) owner=\(entry.uid):\(entry.gid)"
        if let size = entry.size, let sha256 = entry.sha256 { line += " size=\(size) sha256=\(sha256)" }
        if let mtime = entry.mtime { line += " mtime=\(mtime)" }
        return line
    }

    /// The paths that differ, for a message: at most `limit`, each with what changed.
    func differences(to other: TreeFingerprint, limit: Int = 5) -> String {
        var lines: [String] = []
        for path in Set(self.entries.keys).union(other.entries.keys).sorted() where self.entries[path] != other.entries[path] {
            switch (self.entries[path], other.entries[path]) {
            case (nil, _): lines.append("\(path) appeared")
            case (_, nil): lines.append("\(path) disappeared")
            default: lines.append("\(path) changed")
            }
            if lines.count == limit { lines.append("…"); break }
        }
        return lines.joined(separator: ", ")
    }
}

import BackupCore
import Crypto
import Foundation

/// What a tree holds, path by path, for comparing two trees: kind, mode, owner, content (SHA-256)
/// and, when asked, the modification time of files and links.
struct TreeFingerprint: Equatable {
    var entries: [String: String]

    init(_ root: String, times: Bool, ignoring: (String) -> Bool = { _ in false }) throws {
        self.entries = [:]
        guard try FileStatus.of(root) != nil else { return }
        try self.walk(root, relative: "", times: times, ignoring: ignoring)
    }

    private mutating func walk(_ root: String, relative: String, times: Bool, ignoring: (String) -> Bool) throws {
        let directory = relative.isEmpty ? root : root + "/" + relative
        for name in try FileTree.names(in: directory) {
            let path = relative.isEmpty ? name : relative + "/" + name
            if ignoring(path) { continue }
            guard let status = try FileStatus.of(root + "/" + path) else { continue }
            var line = "\(status.kind) mode=\(String(status.mode, radix: 8)) owner=\(status.uid):\(status.gid)"
            switch status.kind {
            case .regular:
                let content = try FileTree.readFile(root + "/" + path, limit: 256 << 20)
                line += " sha256=\(SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined())"
                if times { line += " mtime=\(status.mtimeSeconds).\(status.mtimeNanoseconds)" }
            case .symlink:
                line = "symlink -> \(try FileTree.readLink(root + "/" + path))"
            case .directory:
                self.entries[path] = line
                try self.walk(root, relative: path, times: times, ignoring: ignoring)
                continue
            case .other:
                break
            }
            self.entries[path] = line
        }
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

import BackupCore
import BackupModel
import BackupPOSIX
import Crypto
import Foundation

/// Everything a restore must keep of a tree: per path, kind, mode, owner, size, mtime and content.
public struct TreeSnapshot: Equatable, CustomStringConvertible {
    public var entries: [String: String]

    public init(_ root: String, ignoring: Set<String> = [], directoryTimes: Bool = false) throws {
        self.entries = [:]
        try self.walk(root, relative: "", ignoring: ignoring, directoryTimes: directoryTimes)
    }

    private mutating func walk(_ root: String, relative: String, ignoring: Set<String>, directoryTimes: Bool) throws {
        let directory = relative.isEmpty ? root : root + "/" + relative
        for name in try FileTree.names(in: directory) {
            let path = relative.isEmpty ? name : relative + "/" + name
            if ignoring.contains(path) { continue }
            guard let status = try FileStatus.of(root + "/" + path) else { continue }
            var line = "\(status.kind) mode=\(String(status.mode, radix: 8)) owner=\(status.uid):\(status.gid)"
            switch status.kind {
            case .regular:
                let content = try FileTree.readFile(root + "/" + path, limit: 64 << 20)
                line += " size=\(status.size) mtime=\(status.mtimeSeconds) sha256=\(SHA256.hash(data: content).map { String(format: "%02x", $0) }.joined())"
            case .symlink:
                line = "symlink -> \(try FileTree.readLink(root + "/" + path)) mtime=\(status.mtimeSeconds)"
            case .directory:
                if directoryTimes { line += " mtime=\(status.mtimeSeconds)" }
                self.entries[path] = line
                try self.walk(root, relative: path, ignoring: ignoring, directoryTimes: directoryTimes)
                continue
            case .other:
                break
            }
            self.entries[path] = line
        }
    }

    public var description: String {
        self.entries.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: "\n")
    }
}

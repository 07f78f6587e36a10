import BackupModel
import BackupPOSIX
import Foundation

/// A private directory (0700) for one job's plaintext: collected components, decrypted archives and
/// pre-restore copies. Removed when the job ends; leftovers of a killed job are removed by the next.
public final class StagingArea: @unchecked Sendable {
    /// The job's directory.
    public let path: String

    /// Creates `base/<kind>-<uuid>`, creating `base` (0700) if needed.
    public init(base: String, kind: String) throws {
        try FileTree.makeDirectories(base, mode: 0o700)
        self.path = base + "/" + kind + "-" + UUID().uuidString.lowercased()
        try FileTree.makePrivateDirectory(self.path)
    }

    /// A new private subdirectory, e.g. `config/data`.
    public func makeDirectory(_ relative: String) throws -> String {
        let path = self.path + "/" + relative
        try FileTree.makeDirectories((path as NSString).deletingLastPathComponent, mode: 0o700)
        try FileTree.makePrivateDirectory(path)
        return path
    }

    /// Removes the whole area.
    public func remove() {
        try? FileTree.remove(self.path)
    }

    /// Removes leftovers of killed jobs of `kinds` under `base`. Call only while holding the job lock.
    public static func removeLeftovers(base: String, kinds: [String]) {
        guard let names = try? FileTree.names(in: base) else { return }
        for name in names where kinds.contains(where: { name.hasPrefix($0 + "-") }) {
            try? FileTree.remove(base + "/" + name)
        }
    }
}

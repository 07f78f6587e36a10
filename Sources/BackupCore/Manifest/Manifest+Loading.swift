public import BackupModel
import BackupPOSIX
import Foundation

/// Manifests from files.
extension Manifest {
    /// Reads and decodes a manifest file.
    public static func load(path: String) throws -> Manifest {
        let data: Data
        do {
            data = try FileTree.readFile(path, limit: 4 << 20)
        } catch {
            throw BackupError(.invalidManifest, "cannot read manifest \(path): \(BackupError.wrap(error).message)")
        }
        return try decode(data, source: path)
    }
}

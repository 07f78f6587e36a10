public import BackupModel
import BackupPOSIX
import Foundation

/// The identity's file in the state directory: read, or created once.
extension ApplianceIdentity {
    /// The identity recorded in `stateDirectory`, or nil when there is none yet (a read-only command
    /// does not create one). Throws when the file exists and is not an identifier: a damaged identity
    /// must not silently become a new appliance.
    public static func read(stateDirectory: String) throws -> ApplianceIdentity? {
        let path = stateDirectory + "/" + fileName
        guard try FileStatus.of(path) != nil else { return nil }
        let text = String(decoding: try FileTree.readFile(path, limit: 4096), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard Self.isValid(text) else {
            throw BackupError(.invalidInput, "\(path) does not hold an appliance identifier (gw- and 32 hex digits); restore it from a copy, or remove it to make this a new appliance")
        }
        return ApplianceIdentity(id: text, hostname: Self.currentHostname)
    }

    /// The identity recorded in `stateDirectory`, created (durably, once) when there is none.
    public static func loadOrCreate(stateDirectory: String) throws -> ApplianceIdentity {
        if let existing = try Self.read(stateDirectory: stateDirectory) { return existing }
        try FileTree.makeDirectories(stateDirectory, mode: 0o700)
        var random = SystemRandomNumberGenerator()
        let id = "gw-" + (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &random)) }.joined()
        try FileTree.writeAtomically(Data((id + "\n").utf8), to: stateDirectory + "/" + fileName, mode: 0o644)
        try FileTree.syncDirectory(stateDirectory)
        return ApplianceIdentity(id: id, hostname: Self.currentHostname)
    }
}

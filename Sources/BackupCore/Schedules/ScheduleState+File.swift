public import BackupModel
import BackupPOSIX
import Foundation

/// The schedule state's file in the state directory.
extension ScheduleState {
    package static func path(in stateDirectory: String) -> String { stateDirectory + "/schedule-state.json" }

    /// The state in `stateDirectory`; empty before the first schedule ran. An unreadable file is an
    /// error: starting afresh would silently drop a missed run.
    public static func load(from stateDirectory: String) throws -> ScheduleState {
        let path = Self.path(in: stateDirectory)
        guard try FileStatus.of(path) != nil else { return ScheduleState() }
        do {
            return try JSONDecoder().decode(ScheduleState.self, from: try FileTree.readFile(path, limit: 4 << 20))
        } catch {
            throw BackupError(.corrupted, "schedule state \(path) is unreadable: \(JSONCoding.describe(error)); remove it to start the schedules afresh")
        }
    }

    /// Saves atomically.
    public func save(to stateDirectory: String) throws {
        try FileTree.makeDirectories(stateDirectory, mode: 0o700)
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(self), to: Self.path(in: stateDirectory))
        StateGeneration.advance(in: stateDirectory)
    }
}

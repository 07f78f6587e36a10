import BackupModel
import BackupPOSIX
import Synchronization

/// Counts the writes this process makes to the status and schedule files of each state directory,
/// so that whoever derives something from them (the API's status answers) can keep it until the next
/// write instead of reading and decoding the files again for every request. Counted per directory:
/// a write to another state directory (another job runner in the same process, as in the tests)
/// does not discard what was derived from this one.
public enum StateGeneration {
    private static let counters = Mutex<[String: Int]>([:])

    /// Changes after every write of a status or schedule file in `stateDirectory` by this process.
    public static func current(in stateDirectory: String) -> Int {
        Self.counters.withLock { $0[stateDirectory, default: 0] }
    }

    /// Called after each such write.
    static func advance(in stateDirectory: String) {
        Self.counters.withLock { $0[stateDirectory, default: 0] += 1 }
    }
}

#if DEBUG
import BackupModel
import Glibc
import Synchronization
#endif

/// Named places where a test may SIGKILL the process, to prove that a job killed there leaves the
/// store in a state the next run finishes (`BackupRekey`'s campaign). Compiled into debug builds
/// only: a release build ignores `GWBACKUP_TEST_KILL_AT` entirely.
package enum KillPoint {
    #if DEBUG
    private static let reached = Mutex(0)
    private static let target: Int? = getenv("GWBACKUP_TEST_KILL_AT").flatMap { Int(String(cString: $0)) }
    #endif

    /// Counts this point; the `GWBACKUP_TEST_KILL_AT`-th point reached kills the process, after
    /// printing its name on stderr (the test learns how many points a run has).
    package static func reach(_ name: String) {
        #if DEBUG
        guard let target = Self.target else { return }
        let count = Self.reached.withLock { count in
            count += 1
            return count
        }
        guard count == target else { return }
        let line = "gwbackup: test kill point \(count): \(name)\n"
        _ = line.withCString { write(2, $0, strlen($0)) }
        kill(getpid(), SIGKILL)
        #endif
    }
}

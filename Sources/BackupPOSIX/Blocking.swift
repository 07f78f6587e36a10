import BackupModel
import Foundation
import Glibc

/// Runs blocking work (C calls, file I/O, child processes) on a thread of its own, so that it never
/// holds a thread of Swift's cooperative pool.
public enum Blocking {
    /// The nice value (0-19) of the threads `run` starts from the current task. A job sets it for
    /// itself (`Orchestrator.jobNiceness`) so that its heavy work (archiving, zstd, and the gpg and
    /// plugin processes those threads start, which inherit it) yields the CPU to the appliance's own
    /// services and to the API that reports on the job. On Linux the nice value belongs to a thread
    /// and is inherited by the threads and processes it creates; the I/O scheduler's default
    /// best-effort level follows it too.
    @TaskLocal public static var niceness: Int32 = 0

    /// Runs `work` on a new thread and returns its result.
    public static func run<T: Sendable>(_ name: String = "gwbackup.blocking", _ work: @escaping @Sendable () throws -> T) async throws -> T {
        let niceness = Self.niceness
        // Made (if it is the first) from this task's thread, not from a lowered one.
        let resumer = niceness > 0 ? PriorityNeutralResumer.shared : nil
        return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                guard let resumer else {
                    continuation.resume(with: Result { try work() })
                    return
                }
                Self.lowerPriority(to: niceness)
                let result = Result { try work() }
                // Not from this thread: a cooperative thread it made would inherit its nice value.
                resumer.resume { continuation.resume(with: result) }
            }
            thread.name = name
            thread.stackSize = 1 << 22
            thread.start()
        }
    }

    /// Gives the calling thread (alone: on Linux `who` 0 names the calling thread, not the whole
    /// process) the nice value `niceness`. Lowering a priority needs no
    /// privilege; a failure only leaves the work at the priority it had.
    package static func lowerPriority(to niceness: Int32) {
        #if os(Linux)
        _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, niceness)
        #endif
    }

    /// The nice value of the calling thread.
    public static var currentNiceness: Int32 {
        #if os(Linux)
        return getpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0)
        #else
        return 0
        #endif
    }
}

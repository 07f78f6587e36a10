import BackupModel
import Foundation
import Glibc

/// Resumes the tasks that waited for a job's lowered-priority work (`Blocking.run` with a
/// `niceness`) from a thread at normal priority.
///
/// Why: on Linux a thread's nice value is inherited by the threads it creates, and libdispatch
/// creates Swift's cooperative threads from whichever thread enqueues work when it needs one more.
/// A task resumed from a job's thread at nice 10 could so make a cooperative thread at nice 10,
/// which then ran the API's requests, long after the job, behind everything else on the machine
/// (issue 23: found with the status GET's latency during a backup; such threads lasted until
/// libdispatch reaped them).
package final class PriorityNeutralResumer: @unchecked Sendable {
    package static let shared = PriorityNeutralResumer()

    /// Guards `queue`; the thread waits on it.
    private let condition = NSCondition()
    private var queue: [@Sendable () -> Void] = []

    private init() {
        let thread = Thread { [self] in
            // Created from a task's thread, which should be at the default priority; if it was not,
            // back to it (allowed to root, or within RLIMIT_NICE; otherwise nothing changes).
            if Blocking.currentNiceness > 0 { _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), 0, 0) }
            self.run()
        }
        thread.name = "gwbackup.resume"
        thread.start()
    }

    /// Runs `resume` on the resumer's thread, soon.
    package func resume(_ resume: @escaping @Sendable () -> Void) {
        self.condition.lock()
        self.queue.append(resume)
        self.condition.signal()
        self.condition.unlock()
    }

    private func run() {
        while true {
            self.condition.lock()
            while self.queue.isEmpty { self.condition.wait() }
            let batch = self.queue
            self.queue.removeAll(keepingCapacity: true)
            self.condition.unlock()
            for resume in batch { resume() }
        }
    }
}

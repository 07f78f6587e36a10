import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Logging
public import ServiceLifecycle

/// Runs the API's background jobs, and stops them cleanly when the server shuts down.
///
/// A service of the application's service group: on graceful shutdown (SIGTERM, SIGINT) the HTTP
/// server stops first, then this service fires the running job's cancellation: its plugin is
/// killed, a restore rolls back what it changed, and the job records `ERROR` "interrupted: the
/// server is shutting down". It waits up to `shutdownGrace` for that; a job still running after it
/// is marked interrupted (`markAbandoned`) at once: the status never stays `EXECUTING`.
public final class JobSupervisor: Service, @unchecked Sendable {
    /// How long a shutdown waits for the running job to wind down (below systemd's 90 s stop timeout).
    public let shutdownGrace: Duration
    private let logger: Logger
    private let lock = NSLock()
    private var running: (cancellation: JobCancellation, task: Task<JobRecord, Never>)?

    /// The shutdown grace by default, 20 s: within the shipped unit's `TimeoutStopSec=45`, with room
    /// for the rest of the stop.
    public static let defaultShutdownGrace: Duration = .seconds(20)

    /// Marks a job that did not stop within the grace as interrupted in the status (it will not
    /// finish: the process is about to end).
    private let markAbandoned: @Sendable () -> Void

    /// A supervisor waiting up to `shutdownGrace` for a job to stop at shutdown.
    public init(shutdownGrace: Duration = JobSupervisor.defaultShutdownGrace, logger: Logger, markAbandoned: @escaping @Sendable () -> Void = {}) {
        self.shutdownGrace = shutdownGrace
        self.logger = logger
        self.markAbandoned = markAbandoned
    }

    /// True while a job this supervisor started runs (it holds the job lock until just before it ends).
    var hasRunningJob: Bool {
        self.lock.withLock { self.running != nil }
    }

    /// Starts `job` in the background. The caller holds the job lock, so at most one runs.
    func launch(cancellation: JobCancellation, _ job: @escaping @Sendable () async -> JobRecord) {
        // Under the lock, so that a job that ends at once cannot clear its entry before it is made.
        self.lock.withLock {
            let task = Task.detached { [self] in
                let record = await job()
                self.lock.withLock {
                    if self.running?.cancellation === cancellation { self.running = nil }
                }
                // A server runs jobs for months: what a job freed goes back to the system.
                FreeMemory.release()
                return record
            }
            self.running = (cancellation, task)
        }
    }

    /// Starts `job` as `launch` does and waits for its end (a scheduled run).
    func runToEnd(cancellation: JobCancellation, _ job: @escaping @Sendable () async -> JobRecord) async -> JobRecord {
        self.launch(cancellation: cancellation, job)
        guard let task = self.lock.withLock({ self.running?.cancellation === cancellation ? self.running?.task : nil }) else {
            // It ended already and cleared its entry: its record is the status store's.
            return JobRecord.none
        }
        return await task.value
    }

    /// Waits for the graceful shutdown (or cancellation), then stops the running job.
    public func run() async throws {
        // Throws CancellationError when the group is cancelled rather than shut down: stop the job all the same.
        try? await gracefulShutdown()
        await self.stopRunningJob(reason: "the server is shutting down")
    }

    /// Fires the running job's cancellation and waits (up to `shutdownGrace`) for it to end.
    func stopRunningJob(reason: String) async {
        guard let (cancellation, task) = self.lock.withLock({ self.running }) else { return }
        cancellation.cancel(reason: reason)
        // A race without a task group: a group waits for every child, and waiting for a task's value
        // cannot be cancelled, so a job blocked on a stalled store held the stop up past the grace.
        let ended = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let first = FirstAnswer(continuation)
            Task.detached {
                _ = await task.value
                first.answer(true)
            }
            Task.detached { [grace = self.shutdownGrace] in
                try? await Task.sleep(for: grace)
                first.answer(false)
            }
        }
        if ended {
            self.logger.notice("the running job was stopped for the shutdown")
        } else {
            self.markAbandoned()
            self.logger.warning("the running job did not stop within \(self.shutdownGrace); it is marked interrupted")
        }
    }
}


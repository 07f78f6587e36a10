import BackupModel
import BackupPOSIX
import Foundation

/// Asks a running job to stop, for a server that is shutting down: the plugin the job is running
/// is killed (its whole process group), and the job ends at its next step as `ERROR` with
/// "interrupted: <reason>". A restore first rolls back what it already changed; the rollback
/// itself is never interrupted. Shared by reference and safe from any thread.
public final class JobCancellation: @unchecked Sendable {
    private let lock = NSLock()
    private var storedReason: String?
    private var handlers: [@Sendable (String) -> Void] = []

    public init() {}

    /// Asks the job to stop; the first reason given is kept, and the handlers run (once, on this thread).
    public func cancel(reason: String) {
        let run: [@Sendable (String) -> Void] = self.lock.withLock {
            guard self.storedReason == nil else { return [] }
            self.storedReason = reason
            defer { self.handlers = [] }
            return self.handlers
        }
        for handler in run { handler(reason) }
    }

    /// Runs `handler` with the reason when the job is asked to stop (at once if it already was): for
    /// what a step cannot notice between its own steps, e.g. a read from a store that stalls.
    public func onCancel(_ handler: @escaping @Sendable (String) -> Void) {
        let reason: String? = self.lock.withLock {
            if self.storedReason == nil { self.handlers.append(handler) }
            return self.storedReason
        }
        if let reason { handler(reason) }
    }

    /// Why the job was asked to stop, or nil while it may run on.
    public var reason: String? { self.lock.withLock { self.storedReason } }

    public var isCancelled: Bool { self.reason != nil }

    /// Asks the job to stop once `seconds` have passed (bounded to 10^7; not finite: never), unless
    /// the returned item is cancelled first (when the job ends).
    public func stop(after seconds: Double) -> JobDeadline {
        let bounded = seconds.isFinite ? min(max(seconds, 0), 1e7) : 1e7
        return JobDeadline(after: bounded) { [self] in
            self.cancel(reason: "the job ran longer than its deadline of \(Int(bounded)) s")
        }
    }

    /// The error a job ends with once it has been asked to stop, or nil.
    public var error: BackupError? {
        self.reason.map { BackupError(.interrupted, "interrupted: \($0)") }
    }
}

import BackupModel
import BackupPOSIX
import Dispatch
import Foundation

/// A job's deadline: fires its cancellation once the time has passed, unless cancelled first (when
/// the job ends). A timer source, not `asyncAfter`: a cancelled `asyncAfter` item stays queued, with
/// everything its block holds (the job's cancellation, and through its handlers the store), until its
/// time comes: hours for a job deadline, so a server running many short jobs kept every one of them
/// (issue 23). A cancelled timer source lets go of its handler at once.
public final class JobDeadline: @unchecked Sendable {
    private let source: any DispatchSourceTimer
    private let lock = NSLock()
    private var cancelled = false

    init(after seconds: Double, _ fire: @escaping @Sendable () -> Void) {
        self.source = DispatchSource.makeTimerSource(queue: .global())
        self.source.schedule(deadline: .now() + seconds, repeating: .never)
        self.source.setEventHandler(handler: fire)
        self.source.resume()
    }

    deinit {
        self.cancel()
    }

    /// Stops the deadline; safe to call twice.
    public func cancel() {
        let first = self.lock.withLock { () -> Bool in
            defer { self.cancelled = true }
            return !self.cancelled
        }
        if first { self.source.cancel() }
    }
}

import Foundation

/// Runs blocking work (C calls, file I/O, child processes) on a thread of its own, so that it never
/// holds a thread of Swift's cooperative pool.
public enum Blocking {
    /// Runs `work` on a new thread and returns its result.
    public static func run<T: Sendable>(_ name: String = "gwbackup.blocking", _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                continuation.resume(with: Result { try work() })
            }
            thread.name = name
            thread.stackSize = 1 << 22
            thread.start()
        }
    }
}

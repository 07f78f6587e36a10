import BackupModel
import Glibc

/// Connects a producer that writes a stream (the archiver) to a consumer that reads one (the cipher)
/// through an OS pipe, so neither holds more than a buffer of the data.
public enum StreamPipe {
    /// Runs `produce` on a thread of its own writing into a pipe while `consume` reads from it on this
    /// thread. Returns both results; the first error of either side wins, and a failing side makes the
    /// other see end-of-stream or a broken pipe rather than hang.
    public static func run<P: Sendable, C>(
        produce: @escaping @Sendable (any ByteSink) throws -> P,
        consume: (any ByteSource) throws -> C
    ) throws -> (P, C) {
        // A consumer that fails closes the pipe; the producer must get EPIPE, not be killed by SIGPIPE.
        SystemCall.ignoreBrokenPipes()
        var fds: [Int32] = [0, 0]
        try SystemCall.retrying("pipe") { pipe(&fds) }
        // Child processes (plugins) must not inherit the pipe, or the reader never sees its end.
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        // 1 MiB instead of 64 KiB (F_SETPIPE_SZ, which Glibc's module does not name): fewer hand-overs
        // between the two threads. Best effort; the default works, only slower.
        _ = fcntl(fds[1], 1031, Int32(1 << 20))
        let reader = FileDescriptorStream(fd: fds[0], label: "pipe")
        let writerFD = fds[1]
        let producerResult = ResultBox<P>()
        let done = DispatchSemaphoreLite()
        let thread = Thread {
            let writer = FileDescriptorStream(fd: writerFD, label: "pipe")
            producerResult.set(Result { try produce(writer) })
            writer.closeQuietly()
            done.signal()
        }
        thread.stackSize = 1 << 22
        thread.start()
        let consumed = Result { try consume(reader) }
        // Closing the read end unblocks a producer still writing (it gets EPIPE).
        reader.closeQuietly()
        done.wait()
        let produced = producerResult.get()
        switch (produced, consumed) {
        case (.success(let p), .success(let c)):
            return (p, c)
        case (.failure(let error), .success):
            throw error
        case (.success, .failure(let error)):
            throw error
        case (.failure(let producerError), .failure(let consumerError)):
            // A producer that failed only because the consumer went away (EPIPE) explains nothing.
            if let systemError = producerError as? BackupError, systemError.systemErrno == EPIPE {
                throw consumerError
            }
            throw producerError
        }
    }

}

import Foundation

/// A one-shot box for a thread's result.
package final class ResultBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: Result<T, any Error>?

    package func set(_ result: Result<T, any Error>) {
        self.lock.withLock { self.value = result }
    }

    package func get() -> Result<T, any Error> {
        self.lock.withLock { self.value ?? .failure(BackupError(.system, "worker thread ended without a result")) }
    }
}

/// A minimal semaphore (Foundation's `DispatchSemaphore` without importing Dispatch into the API).
package final class DispatchSemaphoreLite: @unchecked Sendable {
    private let condition = NSCondition()
    private var signalled = false

    package func signal() {
        self.condition.lock()
        self.signalled = true
        self.condition.signal()
        self.condition.unlock()
    }

    package func wait() {
        self.condition.lock()
        while !self.signalled { self.condition.wait() }
        self.condition.unlock()
    }
}

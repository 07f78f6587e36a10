import BackupModel
import Foundation
import Synchronization
import Glibc

/// Log lines written to a file descriptor by a thread of its own, so that a log output that stops
/// draining never holds the threads that answer requests or run jobs.
///
/// Written directly, a log line blocks its caller as soon as the output does: a pipe nobody reads
/// (64 KiB, then every write waits), a terminal stopped with Ctrl-S, a stalled journald. Measured on
/// `gwbackup serve` with its stderr on such a pipe: 368 requests answered, then none (each one logs a
/// line, and the threads that write it are the ones that answer). Here a caller only appends to a
/// bounded queue; when the queue is full the line is dropped and counted, and once the output drains
/// again the writer says how many were lost. Dropping is the choice nginx's and syslog's buffered
/// writers make too: a server that stays up with a gap in its log, rather than a log that is complete
/// up to the moment the server froze.
public final class LogLineWriter: @unchecked Sendable {
    /// The bytes queued at most; lines beyond it are dropped (and counted).
    public let capacity: Int
    private let fileDescriptor: Int32
    /// Guards every `var` below; the writer thread waits on it for lines, `drain` for the queue to empty.
    private let condition = NSCondition()
    private var pending: [UInt8] = []
    private var droppedSinceReport = 0
    private var droppedTotal = 0
    private var writing = false
    /// True while the writer thread waits for lines with none queued: only then does a new line wake
    /// it. Otherwise it is writing, or gathering lines for `gatheringTime` after the first one, so
    /// that a busy server's lines cost one wake-up and one write every few milliseconds (woken for
    /// each line, it switched threads once per two requests at 18,000 requests/s).
    private var waitingForLines = false
    /// How long the writer gathers lines after the first before it writes them.
    package static let gatheringTime: TimeInterval = 0.005

    /// Starts the writer thread for `fileDescriptor` (which stays open for the process's life).
    public init(fileDescriptor: Int32, capacity: Int = 1 << 20) {
        self.fileDescriptor = fileDescriptor
        self.capacity = capacity
        // A reader that went away must end our writes with EPIPE, not the process.
        SystemCall.ignoreBrokenPipes()
        let thread = Thread { [self] in
            // Foundation does not name the thread on Linux (it keeps its creator's name), and Glibc's
            // module has no pthread_setname_np: the kernel's file for the name does it.
            let name = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
            if name >= 0 { _ = Glibc.write(name, "gwbackup.log", 12); close(name) }
            self.run()
        }
        thread.name = "gwbackup.log"
        thread.start()
    }

    /// Queues `text` (one or more whole lines); never waits for the output.
    public func write(_ text: String) {
        self.condition.lock()
        defer { self.condition.unlock() }
        let size = text.utf8.count
        guard self.pending.count + size <= self.capacity else {
            let lines = max(1, text.utf8.lazy.filter { $0 == UInt8(ascii: "\n") }.count)
            self.droppedSinceReport += lines
            self.droppedTotal += lines
            return
        }
        self.pending.append(contentsOf: text.utf8)
        // Half full: the writer stops gathering and writes at once.
        if self.waitingForLines || self.pending.count >= self.capacity / 2 {
            self.waitingForLines = false
            self.condition.broadcast()
        }
    }

    /// Lines dropped so far because the queue was full.
    public var droppedLines: Int {
        self.condition.lock()
        defer { self.condition.unlock() }
        return self.droppedTotal
    }

    /// Waits until everything queued (and any report of dropped lines) is written, at most `timeout`.
    /// Returns false if the output did not drain in time. Call it before the process exits.
    @discardableResult
    public func drain(timeout: Duration) -> Bool {
        let deadline = Date().addingTimeInterval(Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        self.condition.lock()
        defer { self.condition.unlock() }
        while !self.pending.isEmpty || self.droppedSinceReport > 0 || self.writing {
            if !self.condition.wait(until: deadline) { return false }
        }
        return true
    }

    /// A stream for `StreamLogHandler(label:stream:metadataProvider:)`: each line it logs is queued here.
    public var stream: Stream { Stream(writer: self) }

    /// The `TextOutputStream` face of a `LogLineWriter`.
    public struct Stream: TextOutputStream, Sendable {
        package let writer: LogLineWriter

        public mutating func write(_ string: String) {
            self.writer.write(string)
        }
    }

    private func run() {
        self.condition.lock()
        while true {
            while self.pending.isEmpty && self.droppedSinceReport == 0 {
                self.waitingForLines = true
                self.condition.wait()
            }
            self.waitingForLines = false
            let gathered = Date().addingTimeInterval(Self.gatheringTime)
            while self.pending.count < self.capacity / 2 && self.condition.wait(until: gathered) {}
            let chunk = self.pending
            self.pending = []
            self.pending.reserveCapacity(min(self.capacity, 64 * 1024))
            let dropped = self.droppedSinceReport
            self.droppedSinceReport = 0
            self.writing = true
            self.condition.unlock()
            // Outside the lock: this is the write that may wait for the output.
            self.writeAll(chunk)
            if dropped > 0 {
                self.writeAll(Array(Self.droppedReport(dropped).utf8))
            }
            self.condition.lock()
            self.writing = false
            self.condition.broadcast()
        }
    }

    /// Writes all of `bytes`, or gives up on an error other than EINTR (the output is gone: there is
    /// nowhere left to say so).
    private func writeAll(_ bytes: [UInt8]) {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(self.fileDescriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written > 0 {
                    offset += written
                } else if written < 0 && errno == EINTR {
                    continue
                } else if written < 0 && errno == EAGAIN {
                    // A descriptor someone made non-blocking: wait until it takes more.
                    var descriptor = pollfd(fd: self.fileDescriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&descriptor, 1, 1000)
                } else {
                    return
                }
            }
        }
    }

    /// The line that reports `count` dropped lines, in `StreamLogHandler`'s format.
    package static func droppedReport(_ count: Int) -> String {
        "\(Self.timestamp()) warning gwbackup: dropped=\(count) [BackupCore] the log output did not keep up; lines were dropped\n"
    }

    private static let keptTimestamp = Mutex<(second: Int, text: String)>((-1, ""))

    /// The local time as `StreamLogHandler` writes it (`2026-12-07T11:20:00+0000`), made once a
    /// second: glibc's `localtime` takes a process-wide lock and `stat`s /etc/localtime on every
    /// call, which a server logging a line per request paid per request (issue 23).
    public static func timestamp(now: Int = time(nil)) -> String {
        if let text = Self.keptTimestamp.withLock({ $0.second == now ? $0.text : nil }) { return text }
        var clock = now
        var parts = tm()
        guard localtime_r(&clock, &parts) != nil else { return "<unknown>" }
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &parts)
        let text = String(decoding: buffer.prefix(count).map { UInt8(bitPattern: $0) }, as: UTF8.self)
        Self.keptTimestamp.withLock { $0 = (now, text) }
        return text
    }
}

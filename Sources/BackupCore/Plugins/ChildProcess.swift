import Foundation

/// Runs a program with input on stdin, capturing bounded stdout and stderr, with a timeout.
/// Arguments never carry secrets; the environment is given explicitly.
public struct ChildProcess: Sendable {
    /// How a run ended.
    public struct Outcome: Sendable {
        /// The exit status, or the signal number when `signalled`.
        public var status: Int32
        public var signalled: Bool
        public var timedOut: Bool
        public var stdout: Data
        /// The last `stderrLimit` bytes of stderr.
        public var stderr: Data
    }

    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var workingDirectory: String
    public var timeout: Duration
    public var stdoutLimit = 1 << 20
    public var stderrLimit = 16 << 10

    public init(executable: String, arguments: [String] = [], environment: [String: String], workingDirectory: String, timeout: Duration) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.timeout = timeout
    }

    /// Runs the program to completion (or kills it at the timeout). Blocking.
    public func run(input: Data) throws -> Outcome {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: self.executable)
        process.arguments = self.arguments
        process.environment = self.environment
        process.currentDirectoryURL = URL(fileURLWithPath: self.workingDirectory)
        let stdinPipe = Pipe(), stdoutPipe = Pipe(), stderrPipe = Pipe()
        process.standardInput = stdinPipe
        process.standardOutput = stdoutPipe
        process.standardError = stderrPipe
        let exited = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in exited.signal() }
        do {
            try process.run()
        } catch {
            throw BackupError(.pluginFailed, "cannot start \(self.executable): \(error.localizedDescription)")
        }
        let stdoutBox = Self.drain(stdoutPipe.fileHandleForReading, limit: self.stdoutLimit, keepTail: false)
        let stderrBox = Self.drain(stderrPipe.fileHandleForReading, limit: self.stderrLimit, keepTail: true)
        // Feed stdin on its own thread: a child that never reads must not block us past the timeout.
        let writer = stdinPipe.fileHandleForWriting
        Thread.detachNewThread {
            signal(SIGPIPE, SIG_IGN)
            try? writer.write(contentsOf: input)
            try? writer.close()
        }
        let seconds = Double(self.timeout.components.seconds) + Double(self.timeout.components.attoseconds) / 1e18
        var timedOut = false
        if exited.wait(timeout: .now() + seconds) == .timedOut {
            timedOut = true
            process.terminate()
            if exited.wait(timeout: .now() + 3) == .timedOut {
                kill(process.processIdentifier, SIGKILL)
                exited.wait()
            }
        }
        let stdout = stdoutBox.wait()
        let stderr = stderrBox.wait()
        return Outcome(
            status: process.terminationStatus,
            signalled: process.terminationReason == .uncaughtSignal,
            timedOut: timedOut,
            stdout: stdout,
            stderr: stderr)
    }

    /// Reads a pipe to its end on a thread of its own, keeping at most `limit` bytes (head or tail).
    private static func drain(_ handle: FileHandle, limit: Int, keepTail: Bool) -> DrainedOutput {
        let box = DrainedOutput(limit: limit, keepTail: keepTail)
        Thread.detachNewThread {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                box.append(chunk)
            }
            box.finish()
        }
        return box
    }
}

/// What a drain thread has read so far.
final class DrainedOutput: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var data = Data()
    private let limit: Int
    private let keepTail: Bool

    init(limit: Int, keepTail: Bool) {
        self.limit = limit
        self.keepTail = keepTail
    }

    func append(_ chunk: Data) {
        self.lock.withLock {
            self.data.append(chunk)
            if self.data.count > self.limit {
                self.data = self.keepTail ? Data(self.data.suffix(self.limit)) : Data(self.data.prefix(self.limit))
            }
        }
    }

    func finish() {
        self.done.signal()
    }

    /// The output once the pipe closed, or what there is after a grace period: a grandchild that
    /// inherited the pipe must not keep us waiting.
    func wait() -> Data {
        _ = self.done.wait(timeout: .now() + 5)
        return self.lock.withLock { self.data }
    }
}

import BackupModel
import BackupPOSIX
import Foundation

/// What to run: a program, its arguments and exact environment, how long it may take, and how much
/// of its output to keep. Arguments never carry secrets.
public struct ProcessRequest: Sendable {
    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var timeout: Duration
    /// When it fires, the program is stopped as at its timeout.
    public var cancellation: JobCancellation?
    /// The most of stdout kept (the head); more is flagged `stdoutOverLimit`.
    public var stdoutLimit: Int
    /// The most of stderr kept (the tail).
    public var stderrLimit: Int
    /// The confinement asked for; a launcher that does not sandbox (`sandboxes` false) ignores it.
    public var sandbox: ProcessSandbox?
    /// The executable, opened and checked (`ExternalPluginDescriptor.openExecutable`): the launcher
    /// runs this file (fexecve), not whatever the path names by then. The caller closes it.
    public var executableDescriptor: Int32?
    /// The working directory (the step's staging directory).
    public var workingDirectory: String?

    /// The most a plugin's reply may take (documented in docs/plugins.md).
    public static let replyLimit = 1 << 20

    public init(executable: String, arguments: [String] = [], environment: [String: String], timeout: Duration, cancellation: JobCancellation? = nil, stdoutLimit: Int = ProcessRequest.replyLimit, stderrLimit: Int = 16 << 10) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.timeout = timeout
        self.cancellation = cancellation
        self.stdoutLimit = stdoutLimit
        self.stderrLimit = stderrLimit
    }
}

/// How a program ended.
public struct ProcessOutcome: Sendable {
    /// The exit status, or the signal number when `signalled`.
    public var status: Int32
    public var signalled: Bool
    public var timedOut: Bool
    /// Stopped because its `cancellation` fired.
    public var cancelled: Bool
    public var stdout: Data
    /// The last `stderrLimit` bytes of stderr.
    public var stderr: Data
    /// True when stdout held more than `stdoutLimit` bytes (only the head was kept).
    public var stdoutOverLimit: Bool
    /// Processes the program left running when it exited, which were then killed.
    public var leftoverProcesses: Int

    public init(status: Int32, signalled: Bool, timedOut: Bool, cancelled: Bool, stdout: Data, stderr: Data, stdoutOverLimit: Bool = false, leftoverProcesses: Int = 0) {
        self.status = status
        self.signalled = signalled
        self.timedOut = timedOut
        self.cancelled = cancelled
        self.stdout = stdout
        self.stderr = stderr
        self.stdoutOverLimit = stdoutOverLimit
        self.leftoverProcesses = leftoverProcesses
    }
}

/// Starts programs: external plugins' steps. The core says what to run; how (posix_spawn, process
/// groups, the guard that outlives nothing) is platform plumbing in the leaf module `BackupProcess`.
public protocol ProcessLauncher: Sendable {
    /// Runs the program to its end (or stops it at its timeout or cancellation). Blocking.
    func run(_ request: ProcessRequest, input: Data) throws -> ProcessOutcome
    /// Whether processes a program leaves behind are seen (`leftoverProcesses`) and killed.
    var seesLeftovers: Bool { get }
    /// Whether `ProcessRequest.sandbox` is honoured (false under `--no-sandbox`).
    var sandboxes: Bool { get }
}

extension ProcessLauncher {
    public var sandboxes: Bool { false }
}

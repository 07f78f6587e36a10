import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Glibc

/// Runs a program with input on stdin, capturing bounded stdout and stderr, with a timeout: the
/// `ProcessLauncher` of gwbackup (`ChildProcessLauncher`), and the tests' way to run commands.
///
/// The child runs in a process group of its own, so a timeout kills it *and* whatever it started.
/// Arguments never carry secrets; the environment is given explicitly and nothing else is inherited.
public struct ChildProcess: Sendable {
    /// How a run ended.
    public typealias Outcome = ProcessOutcome

    public var executable: String
    public var arguments: [String]
    public var environment: [String: String]
    public var timeout: Duration
    /// The most a plugin's reply may take (documented in docs/plugins.md).
    public static let defaultStdoutLimit = ProcessRequest.replyLimit
    public var stdoutLimit = ChildProcess.defaultStdoutLimit
    public var stderrLimit = 16 << 10
    /// When it fires, the child's process group is killed as at the timeout.
    public var cancellation: JobCancellation?
    /// Kill the child if this process dies (even by SIGKILL), so that no plugin goes on changing the
    /// appliance, unwatched and past its timeout, after the job that ran it is gone.
    public var diesWithParent = true
    /// Confinement for the program (needs the guard); nil runs it unconfined.
    public var sandbox: ProcessSandbox?
    /// An open descriptor of the executable: the guard runs this file (fexecve), not the path.
    public var executableDescriptor: Int32?
    /// The program's working directory (set by the guard); nil inherits ours.
    public var workingDirectory: String?

    public init(executable: String, arguments: [String] = [], environment: [String: String], timeout: Duration) {
        self.executable = executable
        self.arguments = arguments
        self.environment = environment
        self.timeout = timeout
    }

    /// glibc's `posix_spawn_file_actions_addclosefrom_np` (2.34 and later). Swift's Glibc module does
    /// not export it (it sits behind `_GNU_SOURCE`), so it is looked up by name.
    private static let addCloseFrom: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32)? = {
        guard let handle = dlopen(nil, RTLD_NOW), let symbol = dlsym(handle, "posix_spawn_file_actions_addclosefrom_np") else { return nil }
        return unsafeBitCast(symbol, to: (@convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, Int32) -> Int32).self)
    }()

    /// util-linux's `setpriv` (essential on Debian): it sets the parent-death signal, which only the
    /// child itself can set, then execs the program. posix_spawn has no hook to do that in between.
    static let deathSignalSetter: String? = ["/usr/bin/setpriv", "/bin/setpriv"].first { access($0, X_OK) == 0 }

    /// `gwbackup-plugin-guard` (built with gwbackup, a C program): a child subreaper that runs the
    /// program and, when it exits or gwbackup dies, kills everything the program left behind, even
    /// processes that called setsid() and left its process group. Found beside the running binary
    /// or in PREFIX/libexec/gwbackup, and used only when root (or this user) alone can change it.
    public static let guardPath: String? = {
        var candidates: [String] = []
        if let executable = try? FileTree.readLink("/proc/self/exe") {
            let directory = (executable as NSString).deletingLastPathComponent
            candidates += [directory + "/gwbackup-plugin-guard", (directory as NSString).deletingLastPathComponent + "/libexec/gwbackup/gwbackup-plugin-guard"]
        }
        candidates += ["/usr/local/libexec/gwbackup/gwbackup-plugin-guard", "/usr/libexec/gwbackup/gwbackup-plugin-guard"]
        return candidates.first { path in
            guard access(path, X_OK) == 0, let status = try? FileStatus.of(path), status.kind == .regular else { return false }
            return (try? TrustedPath.check(path, what: "plugin guard")) != nil
        }
    }()

    /// Runs the program to completion (or kills its process group at the timeout). Blocking.
    public func run(input: Data) throws -> Outcome {
        let launcher: (executable: String, arguments: [String])
        if self.sandbox != nil && Self.guardPath == nil {
            throw BackupError(.pluginFailed, "cannot sandbox \(self.executable): gwbackup-plugin-guard is not installed beside gwbackup (or may be changed by others); run with --no-sandbox to run plugins unconfined")
        }
        if self.diesWithParent, let guardPath = Self.guardPath {
            launcher = (guardPath, [String(getpid())] + self.guardOptions + ["--", self.executable] + self.arguments)
        } else if self.diesWithParent, let setter = Self.deathSignalSetter {
            // Without the guard: the parent-death signal reaches the program itself (not what it starts).
            launcher = (setter, ["--pdeathsig", "KILL", "--", self.executable] + self.arguments)
        } else {
            return try self.runOnce(executable: self.executable, arguments: self.arguments, input: input)
        }
        // The parent-death signal follows the thread that spawned the child; this one waits in
        // `runOnce` for as long as the child lives.
        let (setter, arguments) = launcher
        for _ in 0..<20 {
            let outcome = try self.runOnce(executable: setter, arguments: arguments, input: input)
            let errorText = String(decoding: outcome.stderr, as: UTF8.self)
            if !outcome.signalled && outcome.status == 125, let line = Self.sandboxFailure(outcome.stderr) {
                throw BackupError(.pluginFailed, "cannot sandbox \(self.executable): \(line); run with --no-sandbox to run plugins unconfined")
            }
            let failedExec = !outcome.signalled && (outcome.status == 126 || outcome.status == 127)
                && (errorText.hasPrefix("setpriv: failed to execute") || errorText.hasPrefix("gwbackup-plugin-guard: failed to execute"))
            guard failedExec else { return outcome }
            let message = errorText.split(separator: ":").dropFirst(2)
                .joined(separator: ":").trimmingCharacters(in: .whitespacesAndNewlines)
            // ETXTBSY (see `runOnce`): the same wait as for our own spawn; anything else is final.
            guard message.contains("Text file busy") else {
                throw BackupError(.pluginFailed, "cannot start \(self.executable): \(message)")
            }
            usleep(50_000)
        }
        return try self.runOnce(executable: setter, arguments: arguments, input: input)
    }

    /// The guard's options for the sandbox, the checked descriptor (always fd 3 in the guard) and the
    /// working directory.
    var guardOptions: [String] {
        var options: [String] = []
        if let sandbox = self.sandbox {
            options.append("--sandbox")
            if sandbox.network { options.append("--network") }
            if sandbox.servicesVisible { options.append("--keep-run") }
            for path in sandbox.writable { options += ["--writable", path] }
            for overlay in sandbox.overlays { options += ["--overlay", overlay.target, overlay.upper, overlay.work] }
        }
        if self.executableDescriptor != nil { options += ["--exec-fd", "3"] }
        if let directory = self.workingDirectory { options += ["--chdir", directory] }
        return options
    }

    /// The guard's "sandbox:" line, when the sandbox could not be made (exit status 125).
    static func sandboxFailure(_ stderr: Data) -> String? {
        let text = String(decoding: stderr, as: UTF8.self)
        guard let line = text.split(separator: "\n").last(where: { $0.hasPrefix("gwbackup-plugin-guard: sandbox: ") }) else { return nil }
        return SafeText.escaped(String(line.dropFirst("gwbackup-plugin-guard: ".count)), limit: 500)
    }

    /// Whether this machine can sandbox plugin steps: nil when it can, else why not (the guard's
    /// `--probe`: namespaces, overlayfs, a read-only remount). Asked once per process.
    public static let sandboxProblem: String? = {
        guard let guardPath = Self.guardPath else { return "gwbackup-plugin-guard is not installed beside gwbackup" }
        var probe = ChildProcess(executable: guardPath, arguments: ["--probe"], environment: [:], timeout: .seconds(30))
        probe.diesWithParent = false
        guard let outcome = try? probe.runOnce(executable: guardPath, arguments: ["--probe"], input: Data()) else { return "the plugin guard cannot be started" }
        if outcome.status == 0 && !outcome.signalled { return nil }
        return Self.sandboxFailure(outcome.stderr) ?? "the plugin guard's probe failed (status \(outcome.status))"
    }()

    private func runOnce(executable: String, arguments: [String], input: Data) throws -> Outcome {
        // A child that exits without reading its input must not kill us with SIGPIPE.
        SystemCall.ignoreBrokenPipes()
        let stdin = try Self.pipe(), stdout = try Self.pipe(), stderr = try Self.pipe()
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, stdin.read, 0)
        posix_spawn_file_actions_adddup2(&actions, stdout.write, 1)
        posix_spawn_file_actions_adddup2(&actions, stderr.write, 2)
        // Nothing else crosses into the plugin: not the server's listening socket or its clients'
        // connections (a plugin that outlives the server would keep accepting them), not another
        // job's pipes, not the state directory's lock.
        // The checked executable crosses as fd 3, for the guard's fexecve (and a script's interpreter,
        // which the kernel hands /dev/fd/3).
        var firstClosed: Int32 = 3
        if let descriptor = self.executableDescriptor {
            posix_spawn_file_actions_adddup2(&actions, descriptor, 3)
            firstClosed = 4
        }
        if let closeFrom = Self.addCloseFrom { _ = closeFrom(&actions, firstClosed) }
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // A new process group (so the whole tree can be killed), default signal handling (we ignore
        // SIGPIPE, and ignored signals would be inherited), nothing blocked.
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        var empty = sigset_t()
        sigemptyset(&empty)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = self.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            argv.forEach { free($0) }
            envp.forEach { free($0) }
        }
        var pid: pid_t = 0
        var spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        // ETXTBSY: the executable was just written and a child forked elsewhere in this process still
        // holds it open for a moment (until its exec closes it). Wait that moment out.
        for _ in 0..<20 where spawned == ETXTBSY {
            usleep(50_000)
            spawned = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        }
        close(stdin.read)
        close(stdout.write)
        close(stderr.write)
        guard spawned == 0 else {
            close(stdin.write)
            close(stdout.read)
            close(stderr.read)
            throw BackupError(.pluginFailed, "cannot start \(self.executable): \(SystemCall.errnoText(spawned))")
        }

        let stdoutBox = Self.drain(stdout.read, limit: self.stdoutLimit, keepTail: false)
        let stderrBox = Self.drain(stderr.read, limit: self.stderrLimit, keepTail: true)
        // Feed stdin on its own thread: a child that never reads must not block us past the timeout.
        let writer = FileDescriptorStream(fd: stdin.write, label: "plugin stdin")
        Thread.detachNewThread {
            try? input.withUnsafeBytes { try writer.write($0) }
            writer.closeQuietly()
        }
        let exited = DispatchSemaphore(value: 0)
        let waitStatus = WaitStatus()
        let child = pid
        Thread.detachNewThread {
            var status: Int32 = 0
            while waitpid(child, &status, 0) == -1 && errno == EINTR {}
            waitStatus.value = status
            exited.signal()
        }
        let seconds = Double(self.timeout.components.seconds) + Double(self.timeout.components.attoseconds) / 1e18
        let deadline = DispatchTime.now() + seconds
        var timedOut = false
        var cancelled = false
        // Wait in short slices so that a cancellation is seen within a tenth of a second.
        var running = exited.wait(timeout: min(deadline, .now() + 0.1)) == .timedOut
        while running && DispatchTime.now() < deadline && !(self.cancellation?.isCancelled ?? false) {
            running = exited.wait(timeout: min(deadline, .now() + 0.1)) == .timedOut
        }
        if running {
            cancelled = self.cancellation?.isCancelled ?? false
            timedOut = !cancelled
            kill(-pid, SIGTERM)
            if exited.wait(timeout: .now() + 3) == .timedOut {
                kill(-pid, SIGKILL)
                exited.wait()
            }
        }
        // Whatever the child started in its process group goes with it, however the step ended: a
        // background child must not change the appliance after the step (or its rollback) reported.
        kill(-pid, SIGKILL)
        let raw = waitStatus.value
        let signalled = raw & 0x7F != 0
        var outcome = Outcome(
            status: signalled ? raw & 0x7F : (raw >> 8) & 0xFF,
            signalled: signalled,
            timedOut: timedOut,
            cancelled: cancelled,
            stdout: stdoutBox.wait(),
            stderr: stderrBox.wait(),
            stdoutOverLimit: stdoutBox.overLimit)
        Self.takeGuardReport(&outcome)
        return outcome
    }

    /// The guard's last stderr line, "gwbackup-plugin-guard: killed N processes left running", becomes
    /// `leftoverProcesses` and leaves the program's own stderr.
    static func takeGuardReport(_ outcome: inout Outcome) {
        let marker = Data("\ngwbackup-plugin-guard: killed ".utf8)
        guard let range = outcome.stderr.range(of: marker, options: .backwards) else { return }
        let tail = String(decoding: outcome.stderr[range.upperBound...], as: UTF8.self)
        guard let count = Int(tail.prefix { $0.isNumber }), tail.hasSuffix("left running\n") else { return }
        outcome.leftoverProcesses = count
        outcome.stderr = Data(outcome.stderr[..<range.lowerBound])
    }

    private static func pipe() throws -> (read: Int32, write: Int32) {
        var fds: [Int32] = [0, 0]
        try SystemCall.retrying("pipe") { Glibc.pipe(&fds) }
        // A plugin spawned meanwhile by another thread closes them anyway (`addclosefrom` below).
        _ = fcntl(fds[0], F_SETFD, FD_CLOEXEC)
        _ = fcntl(fds[1], F_SETFD, FD_CLOEXEC)
        return (fds[0], fds[1])
    }

    /// Reads a pipe to its end on a thread of its own, keeping at most `limit` bytes (head or tail).
    private static func drain(_ fd: Int32, limit: Int, keepTail: Bool) -> DrainedOutput {
        let box = DrainedOutput(limit: limit, keepTail: keepTail)
        let stream = FileDescriptorStream(fd: fd, label: "plugin output")
        Thread.detachNewThread {
            var buffer = [UInt8](repeating: 0, count: 64 << 10)
            while let count = try? buffer.withUnsafeMutableBytes({ try stream.read(into: $0) }), count > 0 {
                box.append(Data(buffer[0..<count]))
            }
            stream.closeQuietly()
            box.finish()
        }
        return box
    }
}

/// The raw status `waitpid` reported.
final class WaitStatus: @unchecked Sendable {
    var value: Int32 = 0
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

    /// True once more than `limit` bytes arrived.
    var overLimit: Bool { self.lock.withLock { self.exceeded } }
    private var exceeded = false

    func append(_ chunk: Data) {
        self.lock.withLock {
            self.data.append(chunk)
            if self.data.count > self.limit {
                self.exceeded = true
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

/// The launcher the runtime gives external plugins: `ChildProcess` under the guard.
public struct ChildProcessLauncher: ProcessLauncher {
    /// False under `--no-sandbox`: plugin steps run unconfined (still under the guard).
    public let sandboxes: Bool

    public init(sandboxes: Bool = true) {
        self.sandboxes = sandboxes
    }

    public func run(_ request: ProcessRequest, input: Data) throws -> ProcessOutcome {
        var child = ChildProcess(executable: request.executable, arguments: request.arguments, environment: request.environment, timeout: request.timeout)
        if self.sandboxes, let sandbox = request.sandbox {
            if let problem = ChildProcess.sandboxProblem {
                throw BackupError(.pluginFailed, "plugin steps cannot be sandboxed on this machine (\(problem)); run gwbackup with --no-sandbox to run them unconfined")
            }
            child.sandbox = sandbox
        }
        child.executableDescriptor = request.executableDescriptor
        child.workingDirectory = request.workingDirectory
        child.cancellation = request.cancellation
        child.stdoutLimit = request.stdoutLimit
        child.stderrLimit = request.stderrLimit
        return try child.run(input: input)
    }

    public var seesLeftovers: Bool { ChildProcess.guardPath != nil }
}

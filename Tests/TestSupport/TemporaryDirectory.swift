import BackupCore
import BackupModel
import BackupPOSIX
import BackupProcess

import Foundation

/// A directory under /tmp for one test, removed when the value goes away.
public final class TemporaryDirectory {
    public let path: String

    public init(_ label: String = "test") throws {
        var template = Array("/tmp/gwb-\(label)-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw BackupError(.system, "mkdtemp failed") }
        self.path = String(cString: created)
    }

    deinit {
        try? FileTree.remove(self.path)
    }

    public func sub(_ relative: String) -> String { self.path + "/" + relative }

    /// Writes `text` at `relative`, creating parents.
    @discardableResult
    public func write(_ relative: String, _ text: String, mode: mode_t = 0o644) throws -> String {
        let path = self.sub(relative)
        try FileTree.makeDirectories((path as NSString).deletingLastPathComponent)
        try FileTree.writeAtomically(Data(text.utf8), to: path, mode: mode)
        chmod(path, mode)
        return path
    }

    public func read(_ relative: String) throws -> String {
        String(decoding: try FileTree.readFile(self.sub(relative)), as: UTF8.self)
    }
}

/// Collects what a `ByteSink` receives.
public final class MemorySink: ByteSink {
    public var data = Data()
    public init() {}
    public func write(_ bytes: UnsafeRawBufferPointer) throws { self.data.append(contentsOf: bytes) }
    public func finish() throws {}
}

/// Serves bytes from memory as a `ByteSource`, in small reads to exercise buffering.
public final class MemorySource: ByteSource {
    private let data: [UInt8]
    private var offset = 0
    private let chunk: Int

    public init(_ data: Data, chunk: Int = 7_000) {
        self.data = [UInt8](data)
        self.chunk = chunk
    }

    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        let count = min(buffer.count, self.chunk, self.data.count - self.offset)
        guard count > 0 else { return 0 }
        self.data.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[self.offset..<(self.offset + count)])) }
        self.offset += count
        return count
    }
}

/// Runs a program and returns its exit status and output.
@discardableResult
public func shell(_ command: String, input: String = "") throws -> (status: Int32, output: String) {
    let outcome = try ChildProcess(
        executable: "/bin/sh", arguments: ["-c", command],
        environment: ["PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"], timeout: .seconds(300)
    ).run(input: Data(input.utf8))
    return (outcome.status, String(decoding: outcome.stdout + outcome.stderr, as: UTF8.self))
}

/// Starts `command` (words for /bin/sh; environment as `env NAME=value …`) in the background, with
/// stdin from /dev/null and stdout and stderr into `output` (stderr into `errors` when given), and
/// returns its PID. Started with
/// Foundation's `Process` rather than `shell(… &)`: `shell` kills its whole process group when it
/// returns (as gwbackup does with a plugin's), which a background job there would not survive.
public func startInBackground(_ command: String, output: String, errors: String? = nil) throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    process.arguments = ["-c", "exec \(command) </dev/null >\(output) \(errors.map { "2>\($0)" } ?? "2>&1")"]
    try process.run()
    BackgroundProcesses.shared.keep(process)
    return process.processIdentifier
}

/// Keeps the `Process` objects of background jobs alive for the test run.
final class BackgroundProcesses: @unchecked Sendable {
    static let shared = BackgroundProcesses()
    private let lock = NSLock()
    private var processes: [Process] = []
    func keep(_ process: Process) { self.lock.withLock { self.processes.append(process) } }
    func process(_ pid: Int32) -> Process? { self.lock.withLock { self.processes.last { $0.processIdentifier == pid } } }
}

/// Sends `signal` to the background process `pid` started by `startInBackground`, only while that very
/// process runs: Foundation reaps it when it ends, and its pid may then belong to another test's
/// process (a SIGTERM to a reused pid once killed another test's gwbackup). False when it had ended.
@discardableResult
public func signalBackground(_ pid: Int32, _ signal: Int32) -> Bool {
    guard let process = BackgroundProcesses.shared.process(pid), process.isRunning else { return false }
    return kill(pid, signal) == 0
}

/// True while the background process `pid` started by `startInBackground` runs (not yet reaped).
public func backgroundIsRunning(_ pid: Int32) -> Bool {
    BackgroundProcesses.shared.process(pid)?.isRunning ?? false
}

/// The PIDs whose parent is `pid` (read from /proc/*/stat).
public func childProcesses(of pid: Int32) -> [Int32] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap { name -> Int32? in
        guard name.allSatisfy(\.isNumber), let stat = FileManager.default.contents(atPath: "/proc/\(name)/stat") else { return nil }
        let text = String(decoding: stat, as: UTF8.self)
        // Fields after the command name, which may hold spaces: state, then the parent PID.
        guard let close = text.lastIndex(of: ")") else { return nil }
        let fields = text[text.index(after: close)...].split(separator: " ")
        return fields.count > 1 && Int32(fields[1]) == pid ? Int32(name) : nil
    }
}

/// True while process `pid` exists and is not a zombie: a killed process whose parent has not
/// reaped it yet (an orphan waits for init, which may take a second here) runs nothing.
public func processIsAlive(_ pid: Int32) -> Bool {
    guard kill(pid, 0) == 0 else { return false }
    guard let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat"),
        let text = String(data: stat, encoding: .utf8), let close = text.lastIndex(of: ")")
    else { return false }
    // The state follows the command name, which may itself hold spaces and parentheses.
    return text[text.index(after: close)...].dropFirst().first != "Z"
}

/// True when a process whose command line is exactly `arguments` runs (read from /proc, so tests
/// need no procps).
public func processRuns(_ arguments: [String]) -> Bool {
    let wanted = Data((arguments.joined(separator: "\0") + "\0").utf8)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    for name in names where name.allSatisfy(\.isNumber) {
        if let line = FileManager.default.contents(atPath: "/proc/\(name)/cmdline"), line == wanted { return true }
    }
    return false
}

/// Waits (up to 10 s) until a process with command line `arguments` runs; false if none shows.
public func processStarts(_ arguments: [String]) async throws -> Bool {
    for _ in 0..<100 {
        if processRuns(arguments) { return true }
        try await Task.sleep(for: .milliseconds(100))
    }
    return false
}

/// The live (not zombie) processes whose environment holds `entry` ("NAME=value"), read from
/// /proc/*/environ: how a test finds a sandboxed plugin's processes, whose own PIDs are those of
/// their namespace and mean nothing here.
public func processes(withEnvironment entry: String) -> [Int32] {
    let wanted = Data((entry + "\0").utf8)
    let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return names.compactMap { name -> Int32? in
        guard name.allSatisfy(\.isNumber), let pid = Int32(name), pid != getpid(),
            let environment = FileManager.default.contents(atPath: "/proc/\(name)/environ"),
            environment.starts(with: wanted) || environment.range(of: Data([0]) + wanted) != nil
        else { return nil }
        return processIsAlive(pid) ? pid : nil
    }
}

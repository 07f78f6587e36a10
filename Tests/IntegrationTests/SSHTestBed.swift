import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import Testing
import GatewayBackupTestSupport

/// The OpenSSH server the SFTP tests use, started by `scripts/sshd-testbed.sh` (which `make test`
/// runs; the tests run it themselves when it is not up).
struct SSHTestBed {
    let port: Int
    let user: String
    let home: String
    let fingerprint: String
    let directory: String

    var password: Secret { Secret((try? String(decoding: FileTree.readFile(self.directory + "/password"), as: UTF8.self))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") }
    var passwordFile: String { self.directory + "/password" }
    var clientKey: String { self.directory + "/client_ed25519" }

    static func start() throws -> SSHTestBed {
        // Not through `shell`: it kills whatever its command leaves running when it returns, which
        // here is the very sshd the script started (daemonized, it outlives the script on purpose).
        let script = Process()
        script.executableURL = URL(fileURLWithPath: "\(Fixture.repository)/scripts/sshd-testbed.sh")
        script.arguments = ["start"]
        script.standardOutput = FileHandle.nullDevice
        try script.run()
        script.waitUntilExit()
        guard script.terminationStatus == 0 else { throw BackupError(.system, "cannot start the sshd test bed: sshd-testbed.sh exited with \(script.terminationStatus)") }
        let text = String(decoding: try FileTree.readFile("/tmp/gwbackup-sshd/testbed.env"), as: UTF8.self)
        var values: [String: String] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1).map(String.init)
            if parts.count == 2 { values[parts[0]] = parts[1] }
        }
        guard let port = values["GWB_SSHD_PORT"].flatMap(Int.init), let user = values["GWB_SSHD_USER"], let home = values["GWB_SSHD_HOME"],
              let fingerprint = values["GWB_SSHD_FINGERPRINT"], let directory = values["GWB_SSHD_DIR"]
        else { throw BackupError(.system, "testbed.env is incomplete: \(text)") }
        return SSHTestBed(port: port, user: user, home: home, fingerprint: fingerprint, directory: directory)
    }

    /// Runs OpenSSH's own `sftp` client with the test key, in batch mode.
    func sftp(_ commands: String) throws -> (status: Int32, output: String) {
        try shell("sftp -q -i \(self.clientKey) -P \(self.port) -o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null -o BatchMode=yes -b - \(self.user)@127.0.0.1", input: commands)
    }

    /// Names under `relative` in the test user's home.
    func remoteNames(_ relative: String) throws -> [String] {
        guard try FileStatus.of(self.home + "/" + relative) != nil else { return [] }
        return try FileTree.names(in: self.home + "/" + relative)
    }

    /// A second sshd of the test bed's configuration on a port of its own, for a test that drops
    /// connections: its connections are that test's alone, so dropping them cannot cut another
    /// test's session on the shared listener (tests run in parallel).
    func privateListener() throws -> PrivateSSHListener {
        try PrivateSSHListener(bed: self)
    }
}

/// An sshd started by one test and stopped by it, by the PID it keeps; `dropConnections` SIGKILLs
/// its children, found by parent PID, never by name. It runs in the foreground (`-D`), spawned and
/// reaped here rather than by Foundation's `Process`: sshd closes every inherited descriptor, which
/// `Process` takes for its child's exit, and it then blocks the reaping of every other child in a
/// `waitpid` on the sshd. (`shell` kills what is left of its process group, so no daemon from there.)
final class PrivateSSHListener: Sendable {
    let bed: SSHTestBed
    let pid: Int32

    init(bed shared: SSHTestBed) throws {
        let free = try shell("python3 -c 'import socket; s=socket.socket(); s.bind((\"127.0.0.1\", 0)); print(s.getsockname()[1])'")
        guard let port = Int(free.output.trimmingCharacters(in: .whitespacesAndNewlines)) else { throw BackupError(.system, "no free port: \(free.output)") }
        self.bed = SSHTestBed(port: port, user: shared.user, home: shared.home, fingerprint: shared.fingerprint, directory: shared.directory)
        let arguments = ["/usr/sbin/sshd", "-D", "-f", "\(shared.directory)/sshd_config", "-p", "\(port)", "-o", "PidFile=none", "-E", "\(shared.directory)/sshd-\(port).log"]
        self.pid = try Self.spawn(arguments)
        let deadline = ContinuousClock.now + .seconds(10)
        while !Self.accepts(port) {
            guard ContinuousClock.now < deadline, kill(self.pid, 0) == 0 else {
                self.stop()
                throw BackupError(.system, "the private sshd on port \(port) did not start listening")
            }
            usleep(50_000)
        }
    }

    /// Cuts every open connection of this listener, which stays up: SIGKILL to each connection's
    /// monitor (the listener's child) and its session process (the monitor's).
    func dropConnections() {
        for monitor in childProcesses(of: self.pid) {
            for session in childProcesses(of: monitor) { kill(session, SIGKILL) }
            kill(monitor, SIGKILL)
        }
    }

    /// Ends the listener and its connections and reaps the listener.
    func stop() {
        self.dropConnections()
        kill(self.pid, SIGTERM)
        var status: Int32 = 0
        _ = waitpid(self.pid, &status, 0)
    }

    /// posix_spawn with the default signal mask and dispositions (the test process blocks some).
    private static func spawn(_ arguments: [String]) throws -> Int32 {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var empty = sigset_t()
        sigemptyset(&empty)
        var all = sigset_t()
        sigfillset(&all)
        posix_spawnattr_setsigmask(&attributes, &empty)
        posix_spawnattr_setsigdefault(&attributes, &all)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var argv = arguments.map { strdup($0) }
        argv.append(nil)
        defer { for pointer in argv { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], nil, &attributes, argv, environ)
        guard result == 0 else { throw BackupError(.system, "cannot start \(arguments[0]): \(String(cString: strerror(result)))") }
        return pid
    }

    /// True when a TCP connection to 127.0.0.1:`port` is accepted.
    private static func accepts(_ port: Int) -> Bool {
        let descriptor = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard descriptor >= 0 else { return false }
        defer { close(descriptor) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port)).bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}

import BackupCore
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
        let started = try shell("\(Fixture.repository)/scripts/sshd-testbed.sh start")
        guard started.status == 0 else { throw BackupError(.system, "cannot start the sshd test bed: \(started.output)") }
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

    /// Drops every open SSH connection of the test bed (the listener stays up): SIGKILL to the
    /// listener's children, found by parent PID, never by name.
    func dropConnections() throws {
        let listener = String(decoding: try FileTree.readFile(self.directory + "/sshd.pid"), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        // Each connection is a monitor (the listener's child) and its session process (the monitor's).
        for monitor in childProcesses(of: try #require(Int32(listener))) {
            for session in childProcesses(of: monitor) { kill(session, SIGKILL) }
            kill(monitor, SIGKILL)
        }
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport

/// `Tests/Fixtures/lying_sftp_server.py` (paramiko) serving `root` on a free loopback port in one
/// `mode` of lying. Stopped by its PID (and by closing its stdin) when the value goes away.
final class LyingSFTPServer {
    let port: Int
    let password = "lying-server-password"
    private let process: Process
    private let input: Pipe

    /// The virtual environment `scripts/test.sh` makes with paramiko.
    static let python = Fixture.repository + "/.build/test-venv/bin/python3"

    init(root: String, mode: String, scratch: TemporaryDirectory) throws {
        guard FileManager.default.isExecutableFile(atPath: Self.python) else {
            throw BackupError(.notFound, "\(Self.python) is missing: run scripts/test.sh (it installs paramiko for the lying SFTP server)")
        }
        let key = scratch.sub("lying-host-key")
        if try FileStatus.of(key) == nil {
            guard try shell("ssh-keygen -q -t ed25519 -N '' -f \(key)").status == 0 else { throw BackupError(.system, "ssh-keygen failed") }
        }
        let passwordFile = try scratch.write("lying-password", self.password, mode: 0o600)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.python)
        process.arguments = [Fixture.repository + "/Tests/Fixtures/lying_sftp_server.py", "--root", root, "--mode", mode, "--host-key", key, "--password-file", passwordFile]
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        self.process = process
        self.input = input
        // The first line is the port; wait for it with a deadline.
        var line = Data()
        let deadline = Date().addingTimeInterval(30)
        while !line.contains(0x0A) && Date() < deadline {
            let chunk = output.fileHandleForReading.availableData
            if chunk.isEmpty { break }
            line.append(chunk)
        }
        guard let port = Int(String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)) else {
            process.terminate()
            throw BackupError(.system, "the lying SFTP server did not start: \(String(decoding: line, as: UTF8.self))")
        }
        self.port = port
    }

    deinit {
        try? self.input.fileHandleForWriting.close()
        if self.process.isRunning { kill(self.process.processIdentifier, SIGKILL) }
        self.process.waitUntilExit()
    }
}

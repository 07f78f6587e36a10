import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport

/// A real `gwbackup serve` process on loopback, for what only a separate process shows: signals,
/// kills and restarts.
final class ServeProcess {
    let fixture: Fixture
    let pid: Int32
    let port: Int
    let output: String
    /// Set once the process is known to have ended: its pid may then belong to someone else.
    private var ended = false

    /// Starts the server on `port` (0: a free one) and waits for its "serving" line. Its stderr goes
    /// to `output` too, or to `errors`.
    init(_ fixture: Fixture, port: Int = 0, manifest: String? = nil, errors: String? = nil) async throws {
        self.fixture = fixture
        self.output = fixture.directory.sub("serve-\(UUID().uuidString.prefix(6)).out")
        var command = """
            env GWBACKUP_SHARE=\(Fixture.repository) \(CommandLineTests.binary) serve --listen 127.0.0.1:\(port) --state-dir \(fixture.state) \
              --root \(fixture.root) --backup-dir \(fixture.backups)
            """
        if let manifest { command += " --manifest \(manifest)" }
        for directory in fixture.pluginDirectories { command += " --plugin-dir \(directory)" }
        let pid = try startInBackground(command, output: self.output, errors: errors)
        self.pid = pid
        var found: Int?
        for _ in 0..<150 where found == nil {
            try await Task.sleep(for: .milliseconds(100))
            let text = (try? FileTree.readFile(self.output)).map { String(decoding: $0, as: UTF8.self) } ?? ""
            found = text.split(separator: "\n").first { $0.hasPrefix("gwbackup serving") }.flatMap { Int($0.split(separator: ":").last ?? "") }
        }
        guard let found else {
            signalBackground(pid, SIGKILL)
            throw BackupError(.system, "gwbackup serve did not start: \((try? FileTree.readFile(self.output)).map { String(decoding: $0, as: UTF8.self) } ?? "")")
        }
        self.port = found
    }

    /// Sends `signal` and waits (up to 10 s) for the process to end.
    func stop(_ signal: Int32 = SIGTERM) async throws {
        guard !self.ended else { return }
        signalBackground(self.pid, signal)
        for _ in 0..<100 where backgroundIsRunning(self.pid) {
            try await Task.sleep(for: .milliseconds(100))
        }
        self.ended = !backgroundIsRunning(self.pid)
    }

    deinit {
        if !self.ended { signalBackground(self.pid, SIGKILL) }
    }
}

extension Fixture {
    /// A manifest with an external component `slow` at `position`, whose plugin runs `script`; its
    /// plugin directory joins `pluginDirectories`. Returns the manifest's path.
    @discardableResult
    func slowManifest(script: String, position: Int = 0) throws -> String {
        try self.directory.write("plugins/slow/plugin.json", #"{"id":"slow","version":"1","protocol":1,"executable":"slow.sh"}"#)
        try self.directory.write("plugins/slow/slow.sh", "#!/bin/sh\n\(script)\n", mode: 0o755)
        self.pluginDirectories = [self.directory.sub("plugins")]
        var manifest = try self.manifest()
        manifest.components.insert(ManifestComponent(name: "slow", plugin: "slow"), at: position)
        let path = self.directory.sub("slow.json")
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(manifest), to: path)
        return path
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// What a running job exposes (issue 9): the command line and environment of every process while the
/// job runs (gwbackup itself, its plugins, gpg), then the state directory, the output and the backup
/// directory. The test fails if it could not read what it meant to search.
@Suite("Secrets while a job runs")
struct SecretExposureTests {
    /// Every process's command line and environment, read from /proc; the PIDs read.
    func scan(for secrets: [String], findings: inout [String], read: inout Set<Int32>) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        for name in names where name.allSatisfy(\.isNumber) {
            guard let pid = Int32(name), pid != getpid() else { continue }
            for file in ["cmdline", "environ"] {
                guard let data = FileManager.default.contents(atPath: "/proc/\(name)/\(file)") else { continue }
                let text = String(decoding: data, as: UTF8.self)
                if file == "cmdline" && !text.contains("gwb-secrets-") && !text.contains("gwbackup") && !text.contains("gpg") { continue }
                read.insert(pid)
                for secret in secrets where text.contains(secret) {
                    findings.append("/proc/\(name)/\(file): \(text.replacingOccurrences(of: "\0", with: " ").prefix(120))")
                }
            }
        }
    }

    @Test func noSecretInAnyProcessFileOrOutputOfARunningBackupAndRestore() async throws {
        let fixture = try Fixture("secrets")
        let security = "security-\(UUID().uuidString.prefix(12))"
        try fixture.directory.write("security.pwd", security + "\n", mode: 0o600)
        let manifest = try fixture.slowManifest(script: """
            sleep 1
            echo '{"protocol":1,"status":"ok"}'
            """, position: 2)
        let common = ["--root", fixture.root, "--path", fixture.backups, "--state-dir", fixture.state, "--manifest", manifest,
                      "--plugin-dir", fixture.directory.sub("plugins"), "--security-pwd-file", fixture.directory.sub("security.pwd")]
        var findings: [String] = []
        var read: Set<Int32> = []
        for job in ["backup", "restore"] {
            let output = fixture.directory.sub("\(job).out")
            let pid = try startInBackground("env GWBACKUP_SHARE=\(Fixture.repository) \(CommandLineTests.binary) \(([job] + common).joined(separator: " "))", output: output)
            // Sample until the job ends, with a deadline.
            let deadline = Date().addingTimeInterval(120)
            while kill(pid, 0) == 0 && Date() < deadline {
                self.scan(for: [security], findings: &findings, read: &read)
                try await Task.sleep(for: .milliseconds(20))
                if let stat = FileManager.default.contents(atPath: "/proc/\(pid)/stat"), String(decoding: stat, as: UTF8.self).contains(") Z ") { break }
            }
            let text = String(decoding: try FileTree.readFile(output), as: UTF8.self)
            #expect(text.contains("\(job) COMPLETED"), "\(text)")
            if text.contains(security) { findings.append("\(job) output") }
        }
        // What it meant to search: gwbackup itself, its plugins (python for config, sh for slow).
        #expect(read.count >= 3, "could read only \(read.count) processes")
        let grep = try shell("grep -rIl -e '\(security)' \(fixture.state) \(fixture.backups) 2>/dev/null")
        if !grep.output.isEmpty { findings.append("files: \(grep.output)") }
        #expect(findings.isEmpty, "\(findings)")
    }
}

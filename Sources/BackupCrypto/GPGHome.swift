import BackupCore
import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A private, short-lived GnuPG home (0700) for one operation, so no keyring, cache or agent of the
/// machine's is used, and the agent GPGME starts is stopped when the operation ends.
final class GPGHome {
    let path: String

    /// Creates `/tmp/gwb-gpg-XXXXXX` (short: the agent's socket path has a length limit) with a
    /// gpg.conf that makes symmetric encryption AES-256 with a strong key derivation.
    init() throws {
        var template = Array("/tmp/gwb-gpg-XXXXXX".utf8CString)
        guard let created = mkdtemp(&template) else { throw SystemCall.error("mkdtemp", "/tmp/gwb-gpg-XXXXXX") }
        self.path = String(cString: created)
        let configuration = """
            s2k-cipher-algo AES256
            s2k-digest-algo SHA512
            s2k-count 65011712
            personal-cipher-preferences AES256
            no-greeting
            no-permission-warning

            """
        try FileTree.writeAtomically(Data(configuration.utf8), to: self.path + "/gpg.conf")
    }

    deinit {
        self.stopAgent()
        try? FileTree.remove(self.path)
    }

    /// Stops the agent GPGME started for this home (it would otherwise outlive us).
    private func stopAgent() {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/gpgconf")
        process.arguments = ["--homedir", self.path, "--kill", "gpg-agent"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        do {
            try process.run()
            process.waitUntilExit()
        } catch {
            // No gpgconf: nothing more we can do; the agent exits when its home disappears.
        }
    }
}

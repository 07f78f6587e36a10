import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// Recovery keys (issue 26): backups also encrypted to an organisation's OpenPGP key, read by stock
/// gpg with its secret key and restored with `--recovery-key`, the security password unknown.
@Suite("Recovery keys")
struct RecoveryKeyTests {
    /// A GnuPG home of the test's with keys made by stock gpg; `make` returns the fingerprint.
    struct KeyRing {
        let home: String

        init(_ directory: TemporaryDirectory) throws {
            self.home = directory.sub("keyring")
            try FileTree.makeDirectories(self.home, mode: 0o700)
        }

        func gpg(_ arguments: String) throws -> (status: Int32, output: String) {
            try shell("gpg --homedir \(self.home) --batch --pinentry-mode loopback --passphrase '' \(arguments) 2>&1")
        }

        /// Makes a key (`algorithm usage expire`, as --quick-gen-key takes them) and returns its fingerprint.
        func make(_ uid: String, _ spec: String, at time: String? = nil) throws -> String {
            let faked = time.map { "--faked-system-time \($0)! " } ?? ""
            #expect(try self.gpg("\(faked)--quick-gen-key '\(uid)' \(spec)").status == 0)
            let listing = try self.gpg("--with-colons --list-keys '\(uid)'").output
            return listing.split(separator: "\n").first { $0.hasPrefix("fpr:") }.map { String($0.split(separator: ":", omittingEmptySubsequences: false)[9]) } ?? ""
        }

        func exportPublic(_ fingerprint: String, to path: String) throws {
            #expect(try self.gpg("--armor --output \(path) --export \(fingerprint)").status == 0)
        }

        func exportSecret(_ fingerprint: String, to path: String) throws {
            #expect(try self.gpg("--armor --output \(path) --export-secret-keys \(fingerprint)").status == 0)
        }
    }

    func cleanHomes() throws -> Set<String> {
        Set((try FileTree.names(in: "/dev/shm")).filter { $0.hasPrefix("gwb-gpg-") })
    }

    @Test func aRecoveryKeyReadsEveryFileWithStockGpgAndRestoresWithoutThePassword() async throws {
        let fixture = try Fixture("recovery-key")
        let keys = try KeyRing(fixture.directory)
        let fingerprint = try keys.make("Recovery <recovery@example.org>", "future-default default never")
        let other = try keys.make("Other <other@example.org>", "future-default default never")
        try keys.exportPublic(fingerprint, to: fixture.directory.sub("recovery.pub.asc"))
        try keys.exportSecret(fingerprint, to: fixture.directory.sub("recovery.sec.asc"))
        try keys.exportSecret(other, to: fixture.directory.sub("other.sec.asc"))
        let cli = CommandLineTests()
        let backup = try await cli.gwbackup(["backup", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile, "--recipient-key", fixture.directory.sub("recovery.pub.asc")])
        #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        let directory = try fixture.onlyBackup()
        let name = (directory as NSString).lastPathComponent

        // The index names the recovery key, authenticated by the password.
        let index = try shell("gpg --homedir \(fixture.directory.sub("keyring")) --batch --pinentry-mode loopback --passphrase-file \(fixture.passwordFile) --decrypt \(directory)/index.json.gpg 2>/dev/null")
        #expect(index.output.contains("\"recipients\"") && index.output.contains(fingerprint), "\(index.output)")
        // Stock gpg with the secret key opens every file, no password given.
        let files = try FileTree.names(in: directory).filter { $0.hasSuffix(".gpg") }
        #expect(files.count == 6)
        for file in files {
            let opened = try keys.gpg("--decrypt --output /dev/null \(directory)/\(file)")
            #expect(opened.status == 0, "\(file): \(opened.output)")
        }

        // Listed and verified with the recovery key alone, after a listing with the password (its
        // catalog cache must not open for the key, nor the key's runs write it).
        #expect(try await cli.gwbackup(["list", "--path", fixture.backups, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile]).status == 0)
        let cacheKey = try FileTree.readFile(fixture.state + "/catalog-key.gpg")
        let listed = try await cli.gwbackup(["list", "--path", fixture.backups, "--state-dir", fixture.state, "--recovery-key", fixture.directory.sub("recovery.sec.asc")])
        #expect(listed.status == 0 && listed.stdout.contains(name), "\(listed.stdout)\(listed.stderr)")
        let verified = try await cli.gwbackup(["verify", "--path", fixture.backups, "--state-dir", fixture.state, "--recovery-key", fixture.directory.sub("recovery.sec.asc"), "--backup", name])
        #expect(verified.status == 0 && verified.stdout.contains("verify (decrypt) OK"), "\(verified.stdout)\(verified.stderr)")
        // Another secret key opens nothing, even after the right one was used (no cache stands in for it).
        let notOurs = try await cli.gwbackup(["list", "--path", fixture.backups, "--state-dir", fixture.state, "--recovery-key", fixture.directory.sub("other.sec.asc")])
        #expect(notOurs.status != 0 && notOurs.stderr.contains("the recovery key opens none of the 1 backup(s)"), "\(notOurs.stderr)")
        #expect(try FileTree.readFile(fixture.state + "/catalog-key.gpg") == cacheKey, "a recovery key's run rewrote the catalog cache's key")
        // Restored with the recovery key, the security password unknown (none in the environment,
        // no file, no terminal to ask at).
        try fixture.mutateAppliance()
        let shmBefore = try self.cleanHomes()
        let restore = try await cli.gwbackup(["restore", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--recovery-key", fixture.directory.sub("recovery.sec.asc"), "--backup", name])
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        #expect(try fixture.directory.read("appliance/etc/flowgateway/flowgateway.conf") != "hostname = hijacked\n")
        #expect(try FileStatus.of(fixture.root + "/etc/flowgateway/vault/cloak.key") != nil)
        #expect(try self.cleanHomes().subtracting(shmBefore).isEmpty, "a recovery home was left in /dev/shm")
        // Not the recipient: refused, named; without --backup: refused before anything.
        let wrong = try await cli.gwbackup(["restore", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--recovery-key", fixture.directory.sub("other.sec.asc"), "--backup", name])
        #expect(wrong.status != 0 && (wrong.stdout + wrong.stderr).contains("recovery key"), "\(wrong.stdout)\(wrong.stderr)")
        let unnamed = try await cli.gwbackup(["restore", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--recovery-key", fixture.directory.sub("recovery.sec.asc")])
        #expect(unnamed.status == 64 && unnamed.stderr.contains("--backup NAME"), "\(unnamed.stderr)")
        // The secret key never became a file of the appliance: no GnuPG home of gwbackup's holds one.
        let leftovers = try shell("ls -d /tmp/gwb-gpg-*/private-keys-v1.d/*.key 2>/dev/null | wc -l").output.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(leftovers == "0", "secret keys under /tmp: \(leftovers)")
    }

    /// A rotation never quietly takes a recovery key away: without the key given again (or
    /// --drop-recovery-keys) the backup fails, named, and still opens with the old password.
    @Test func aRotationKeepsTheRecoveryKeysOrSaysWhyNot() async throws {
        let fixture = try Fixture("recovery-rekey")
        let keys = try KeyRing(fixture.directory)
        let fingerprint = try keys.make("Recovery <recovery@example.org>", "future-default default never")
        let publicKey = fixture.directory.sub("recovery.pub.asc")
        try keys.exportPublic(fingerprint, to: publicKey)
        let cli = CommandLineTests()
        let store = ["--path", fixture.backups, "--state-dir", fixture.state]
        #expect(try await cli.gwbackup(["backup", "--root", fixture.root, "--security-pwd-file", fixture.passwordFile, "--recipient-key", publicKey] + store).status == 0)
        let directory = try fixture.onlyBackup()
        let next = try fixture.directory.write("next.pwd", "the next password", mode: 0o600)
        let rotate = ["rekey", "--security-pwd-file", fixture.passwordFile, "--new-security-pwd-file", next] + store

        let refused = try await cli.gwbackup(rotate)
        #expect(refused.status == 1 && refused.stdout.contains("failed") && refused.stdout.contains(fingerprint) && refused.stdout.contains("--drop-recovery-keys"), "\(refused.stdout)\(refused.stderr)")
        #expect(try await cli.gwbackup(["verify", "--security-pwd-file", fixture.passwordFile] + store).status == 0, "the refused backup no longer opens with the old password")

        // Given again: rotated, and the key still opens every file.
        let kept = try await cli.gwbackup(rotate + ["--recipient-key", publicKey])
        #expect(kept.status == 0 && kept.stdout.contains("rekeyed"), "\(kept.stdout)\(kept.stderr)")
        for file in try FileTree.names(in: directory) where file.hasSuffix(".gpg") {
            #expect(try keys.gpg("--decrypt --output /dev/null \(directory)/\(file)").status == 0, "\(file) no longer opens with the recovery key")
        }
        let index = try shell("gpg --homedir \(keys.home) --batch --pinentry-mode loopback --passphrase-file \(next) --decrypt \(directory)/index.json.gpg 2>/dev/null").output
        #expect(index.contains(fingerprint), "\(index)")

        // Dropped on purpose: rotated, and the index names no recovery key any more.
        let third = try fixture.directory.write("third.pwd", "the third password", mode: 0o600)
        let dropped = try await cli.gwbackup(["rekey", "--security-pwd-file", next, "--new-security-pwd-file", third, "--drop-recovery-keys"] + store)
        #expect(dropped.status == 0 && dropped.stdout.contains("rekeyed"), "\(dropped.stdout)\(dropped.stderr)")
        let after = try shell("gpg --homedir \(keys.home) --batch --pinentry-mode loopback --passphrase-file \(third) --decrypt \(directory)/index.json.gpg 2>/dev/null").output
        #expect(after.contains("\"components\"") && !after.contains(fingerprint), "\(after)")
    }

    @Test func keysThatCannotProtectABackupAreRefusedBeforeAnythingIsWritten() async throws {
        let fixture = try Fixture("recovery-key-refusals")
        let keys = try KeyRing(fixture.directory)
        let expired = try keys.make("Expired <expired@example.org>", "future-default default 1d", at: "20200101T000000")
        let signOnly = try keys.make("Signer <signer@example.org>", "ed25519 sign never")
        let revoked = try keys.make("Revoked <revoked@example.org>", "future-default default never")
        // gpg keeps a revocation certificate for each key it makes; imported, it revokes the key.
        let certificate = try String(decoding: FileTree.readFile(keys.home + "/openpgp-revocs.d/\(revoked).rev"), as: UTF8.self)
        try fixture.directory.write("revoke.asc", certificate.replacingOccurrences(of: ":-----BEGIN", with: "-----BEGIN"))
        #expect(try keys.gpg("--import \(fixture.directory.sub("revoke.asc"))").status == 0)
        for (label, fingerprint) in [("expired", expired), ("sign-only", signOnly), ("revoked", revoked)] {
            try keys.exportPublic(fingerprint, to: fixture.directory.sub("\(label).asc"))
        }
        try keys.exportSecret(revoked, to: fixture.directory.sub("secret.asc"))
        try fixture.directory.write("garbage.asc", "not a key\n")
        let cli = CommandLineTests()
        let cases: [(file: String, message: String)] = [
            ("expired.asc", "is expired since 2020-01-02"),
            ("sign-only.asc", "cannot encrypt"),
            ("revoked.asc", "is revoked"),
            ("secret.asc", "holds a secret key: give the public key only"),
            ("garbage.asc", "holds no OpenPGP key"),
            ("missing.asc", "cannot be read"),
        ]
        for (file, message) in cases {
            let backup = try await cli.gwbackup(["backup", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile, "--recipient-key", fixture.directory.sub(file)])
            #expect(backup.status == 2 && backup.stderr.contains(message), "\(file): \(backup.status) \(backup.stderr)")
        }
        #expect(try FileStatus.of(fixture.backups) == nil, "a refused key still let a backup be written")
    }

    /// The server's `recipientKeys`: checked at start-up; an expired key stops the start, named.
    @Test func theServersRecoveryKeysAreCheckedWhenItStarts() async throws {
        let fixture = try Fixture("recovery-key-serve")
        let keys = try KeyRing(fixture.directory)
        let good = try keys.make("Recovery <recovery@example.org>", "future-default default never")
        let expired = try keys.make("Expired <expired@example.org>", "future-default default 1d", at: "20200101T000000")
        try keys.exportPublic(good, to: fixture.directory.sub("good.asc"))
        try keys.exportPublic(expired, to: fixture.directory.sub("expired.asc"))
        func configuration(_ key: String) throws -> String {
            try fixture.directory.write("serve-\(key).json", #"{"stateDirectory": "\#(fixture.state)", "applianceRoot": "\#(fixture.root)", "backupDirectory": "\#(fixture.backups)", "recipientKeys": ["\#(fixture.directory.sub(key))"]}"#)
        }
        let refused = try await CommandLineTests().gwbackup(["serve", "--config", try configuration("expired.asc"), "--listen", "127.0.0.1:0"], timeout: .seconds(60))
        #expect(refused.status == 2 && refused.stderr.contains("expired.asc") && refused.stderr.contains("is expired"), "\(refused.status) \(refused.stderr)")
        let output = fixture.directory.sub("serve.out")
        let pid = try startInBackground("env GWBACKUP_SHARE=\(Fixture.repository) \(CommandLineTests.binary) serve --config \(try configuration("good.asc")) --listen 127.0.0.1:0", output: output)
        defer { signalBackground(pid, SIGKILL) }
        let serving = try await CrashRecoveryTests().wait(seconds: 60) {
            ((try? FileTree.readFile(output)).map { String(decoding: $0, as: UTF8.self) } ?? "").contains("gwbackup serving")
        }
        #expect(serving, "\((try? FileTree.readFile(output)).map { String(decoding: $0, as: UTF8.self) } ?? "")")
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// `gwbackup rekey`: every backup ends with the new password and not the old; killed at every point
/// of its run, locally and over SFTP, each backup still opens with exactly one of the two, and a
/// second run finishes the work.
@Suite("Password rotation")
struct RekeyTests {
    let oldPassword = Secret("correct horse battery staple")
    let newPassword = Secret("a new password after the leak")

    /// A fixture whose manifest keeps one small component (a kill point per file and step).
    func smallFixture(_ label: String) throws -> (Fixture, String) {
        let fixture = try Fixture(label)
        var manifest = try fixture.manifest()
        manifest.components = manifest.components.filter { $0.name == "snmp" }
        let path = try fixture.directory.write("small.json", String(decoding: try JSONCoding.encoder().encode(manifest), as: UTF8.self))
        try fixture.directory.write("new.pwd", self.newPassword.revealed + "\n", mode: 0o600)
        return (fixture, path)
    }

    /// The backups under `directory` that open with `password` (authenticated catalog, no cache),
    /// each checked: its plain manifest agrees with its index, its component files match the index.
    func opening(_ directory: String, with password: Secret, cipher: any PayloadCipher, checking: Bool = true) async throws -> Set<String> {
        let store = LocalBackupStore(path: directory)
        return try await Blocking.run {
            let catalog: AuthenticatedCatalog
            do {
                catalog = try AuthenticatedCatalog.open(store: store, cipher: cipher, passphrase: password, stateDirectory: nil)
            } catch let error as BackupError where error.code == .wrongPassword {
                return []
            }
            for backup in catalog.backups where checking {
                _ = try store.plainManifest(agreeingWith: backup.index, backup: backup.name, first: try BackupIndex.decode(try store.readIndex(backup: backup.name), backup: backup.name))
                for component in backup.index.components where component.outcome == "ok" {
                    try ComponentDecryptor(store: store, cipher: cipher, passphrase: password).checksum(backup: backup.name, component: component)
                }
                #expect(backup.index.keyID == KeyIdentifier.of(password), "\(backup.name) opens with a password its index does not name")
            }
            return Set(catalog.backups.map(\.name))
        }
    }

    /// Kills `rekey` at point 1, 2, … of a fresh copy of the backups until a run ends by itself;
    /// after each kill, every backup opens with exactly one password, and a rerun completes.
    func campaign(_ fixture: Fixture, directory: String, rekey: [String]) async throws -> Int {
        let pristine = fixture.directory.sub("pristine")
        #expect(try shell("cp -a \(directory) \(pristine)").status == 0)
        let names = Set(try FileTree.names(in: directory).filter { !$0.hasPrefix(".") })
        #expect(names.count == 3)
        let cipher = fixture.runtime.orchestrator().cipher
        let cli = CommandLineTests()
        var point = 1
        while point < 100 {
            #expect(try shell("rm -rf \(directory) && cp -a \(pristine) \(directory)").status == 0)
            let killed = try await cli.gwbackup(rekey, environment: ["GWBACKUP_TEST_KILL_AT": "\(point)"])
            if killed.status == 0 { break }
            #expect(killed.stderr.contains("test kill point \(point):"), "point \(point): \(killed.status) \(killed.stdout)\(killed.stderr)")
            let old = try await self.opening(directory, with: self.oldPassword, cipher: cipher)
            let new = try await self.opening(directory, with: self.newPassword, cipher: cipher)
            #expect(old.isDisjoint(with: new) && old.union(new) == names, "after \(killed.stderr.split(separator: "\n").last ?? ""): old opens \(old.sorted()), new opens \(new.sorted())")
            let rerun = try await cli.gwbackup(rekey)
            #expect(rerun.status == 0, "the rerun after point \(point): \(rerun.stdout)\(rerun.stderr)")
            #expect(try await self.opening(directory, with: self.newPassword, cipher: cipher) == names)
            #expect(try await self.opening(directory, with: self.oldPassword, cipher: cipher).isEmpty)
            point += 1
        }
        // Whole: nothing left beside each backup's index, plain manifest and its one component.
        for name in names {
            let files = try FileTree.names(in: directory + "/" + name).sorted()
            #expect(files == ["index.json.gpg", "manifest.json", "snmp.\(KeyIdentifier.of(self.newPassword)).tar.zst.gpg"], "\(name): \(files)")
        }
        return point - 1
    }

    /// A campaign of its own (minutes of key derivations): in scripts/test.sh's pass of its own.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GWBACKUP_CAMPAIGN_TESTS"] == "1"))
    func aRotationKilledAtEveryPointLeavesExactlyOnePasswordPerBackupAndARerunFinishes() async throws {
        let (fixture, manifest) = try self.smallFixture("rekey-local")
        let cli = CommandLineTests()
        let options = ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--manifest", manifest, "--security-pwd-file", fixture.passwordFile]
        for _ in 0..<3 { #expect(try await cli.gwbackup(["backup"] + options).status == 0) }
        let rekey = ["rekey", "--path", fixture.backups, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile, "--new-security-pwd-file", fixture.directory.sub("new.pwd")]
        let points = try await self.campaign(fixture, directory: fixture.backups, rekey: rekey)
        #expect(points >= 20, "only \(points) kill points")
        print("rekey campaign (local): \(points) kill points")
        // The rotated backups restore with the new password, and the old one opens nothing.
        try fixture.directory.write("appliance/etc/snmp/snmpd.conf", "changed\n")
        let restore = try await cli.gwbackup(["restore", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--manifest", manifest, "--security-pwd-file", fixture.directory.sub("new.pwd")])
        #expect(restore.status == 0, "\(restore.stdout)\(restore.stderr)")
        #expect(try fixture.directory.read("appliance/etc/snmp/snmpd.conf") != "changed\n")
        let list = try await cli.gwbackup(["list", "--path", fixture.backups, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile])
        #expect(list.status == 1 && list.stderr.contains("this password is key \(KeyIdentifier.of(self.oldPassword))") && list.stderr.contains("name key \(KeyIdentifier.of(self.newPassword)) (3 backups)"), "\(list.stderr)")
        let listed = try await cli.gwbackup(["list", "--json", "--path", fixture.backups, "--state-dir", fixture.state, "--security-pwd-file", fixture.directory.sub("new.pwd")])
        #expect(listed.stdout.components(separatedBy: "\"key_id\" : \"\(KeyIdentifier.of(self.newPassword))\"").count == 4, "\(listed.stdout)")
    }

    /// A campaign of its own (minutes): in scripts/test.sh's pass of its own.
    @Test(.enabled(if: ProcessInfo.processInfo.environment["GWBACKUP_CAMPAIGN_TESTS"] == "1"))
    func aRotationOverSFTPKilledAtEveryPointLeavesExactlyOnePasswordPerBackupAndARerunFinishes() async throws {
        let bed = try SSHTestBed.start()
        let (fixture, manifest) = try self.smallFixture("rekey-sftp")
        let path = "gwb-tests/rekey-\(UUID().uuidString.prefix(8))"
        let remote = ["--host", "127.0.0.1", "--port", "\(bed.port)", "--user", bed.user, "--password-file", bed.passwordFile, "--path", path, "--state-dir", fixture.state]
        let cli = CommandLineTests()
        for _ in 0..<3 {
            let backup = try await cli.gwbackup(["backup", "--root", fixture.root, "--manifest", manifest, "--security-pwd-file", fixture.passwordFile] + remote)
            #expect(backup.status == 0, "\(backup.stdout)\(backup.stderr)")
        }
        let rekey = ["rekey", "--security-pwd-file", fixture.passwordFile, "--new-security-pwd-file", fixture.directory.sub("new.pwd")] + remote
        // The remote directory is on this machine: the checks read it as a local store.
        let points = try await self.campaign(fixture, directory: bed.home + "/" + path, rekey: rekey)
        #expect(points >= 20, "only \(points) kill points")
        print("rekey campaign (SFTP): \(points) kill points")
        let verify = try await cli.gwbackup(["verify", "--security-pwd-file", fixture.directory.sub("new.pwd")] + remote)
        #expect(verify.status == 0 && verify.stdout.contains("verify (decrypt) OK"), "\(verify.stdout)\(verify.stderr)")
        _ = try shell("rm -rf \(bed.home)/\(path)")
    }

    @Test func wrongPasswordsTheSamePasswordAndOtherAppliancesBackupsAreRefusedOrLeftAlone() async throws {
        let (fixture, manifest) = try self.smallFixture("rekey-refusals")
        let cli = CommandLineTests()
        let options = ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--manifest", manifest, "--security-pwd-file", fixture.passwordFile]
        #expect(try await cli.gwbackup(["backup"] + options).status == 0)
        // Another appliance's backup under the same password, in the same path: not this appliance's to rotate.
        let other = fixture.directory.sub("other-state")
        #expect(try await cli.gwbackup(["backup", "--path", fixture.backups, "--root", fixture.root, "--state-dir", other, "--manifest", manifest, "--security-pwd-file", fixture.passwordFile]).status == 0)
        try fixture.directory.write("wrong.pwd", "not the password\n", mode: 0o600)
        let base = ["rekey", "--path", fixture.backups, "--state-dir", fixture.state]
        let wrong = try await cli.gwbackup(base + ["--security-pwd-file", fixture.directory.sub("wrong.pwd"), "--new-security-pwd-file", fixture.directory.sub("wrong.pwd")])
        #expect(wrong.status != 0 && wrong.stderr.contains("the new security password is the old one"), "\(wrong.stderr)")
        let neither = try await cli.gwbackup(base + ["--security-pwd-file", fixture.directory.sub("wrong.pwd"), "--new-security-pwd-file", fixture.directory.sub("new.pwd")])
        #expect(neither.status != 0 && neither.stderr.contains("neither password opens a backup of this appliance"), "\(neither.stderr)")
        #expect(!(wrong.stderr + neither.stderr).contains("not the password") && !neither.stderr.contains(self.newPassword.revealed))
        let rotated = try await cli.gwbackup(base + ["--security-pwd-file", fixture.passwordFile, "--new-security-pwd-file", fixture.directory.sub("new.pwd"), "--json"])
        #expect(rotated.status == 0, "\(rotated.stdout)\(rotated.stderr)")
        let report = try JSONDecoder().decode(BackupRekey.Report.self, from: Data(rotated.stdout.utf8))
        #expect(report.backups.count == 1 && report.backups.first?.result == .rekeyed)
        let cipher = fixture.runtime.orchestrator().cipher
        #expect(try await self.opening(fixture.backups, with: self.oldPassword, cipher: cipher).count == 1, "the other appliance's backup keeps its password")
        // A damaged component: that backup fails, named, and keeps its password; nothing half-done.
        let other2 = try await cli.gwbackup(["list", "--json", "--path", fixture.backups, "--state-dir", other, "--security-pwd-file", fixture.passwordFile])
        let name = try #require((try JSONSerialization.jsonObject(with: Data(other2.stdout.utf8)) as? [String: Any])?["backups"] as? [[String: Any]]).first?["name"] as? String
        let file = fixture.backups + "/" + (name ?? "") + "/snmp.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data[data.count / 2] ^= 0x40
        try FileTree.remove(file)
        try FileTree.writeAtomically(data, to: file)
        let damaged = try await cli.gwbackup(["rekey", "--path", fixture.backups, "--state-dir", other, "--security-pwd-file", fixture.passwordFile, "--new-security-pwd-file", fixture.directory.sub("new.pwd")])
        #expect(damaged.status == 1 && damaged.stdout.contains("failed") && damaged.stdout.contains("SHA-256"), "\(damaged.stdout)\(damaged.stderr)")
        #expect(try FileTree.names(in: fixture.backups + "/" + (name ?? "")).contains("index.json.gpg"), "the damaged backup was committed")
        #expect(try await self.opening(fixture.backups, with: self.oldPassword, cipher: cipher, checking: false) == [name ?? ""])
    }
}

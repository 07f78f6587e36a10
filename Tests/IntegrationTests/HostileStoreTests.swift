@testable import BackupArchive
import BackupCore
import BackupModel
import BackupPOSIX
import BackupCrypto
import Foundation
import GatewayBackupTestSupport
import Testing

/// An attacker controls the backup store (issue 8): without the security password they can at most
/// make a restore fail with a clear error; with it, they can change the content of the declared paths
/// of the restored components, and nothing else.
@Suite("Restore trusts nothing it reads from the backup store")
struct HostileStoreTests {
    /// Runs a restore that must fail, and checks: the appliance did not change by a byte, the message
    /// says `expected`, the status is ERROR, and no decrypted byte stayed in staging.
    @discardableResult
    func expectRefused(_ fixture: Fixture, messageContains expected: String, manifest: Manifest? = nil, backup: String? = nil) async throws -> JobRecord {
        // The dump first: reading a WAL database can checkpoint it, which would change its bytes.
        let dump = try fixture.databaseDump()
        let before = try fixture.snapshot()
        let record = try await fixture.restore(manifest: manifest, backup: backup)
        #expect(record.status == .error, "\(record.message)")
        #expect(record.message.contains(expected), "\(record.message)")
        let after = try fixture.snapshot()
        #expect(after == before, "\(after.entries.filter { before.entries[$0.key] != $0.value }) vs \(before.entries.filter { after.entries[$0.key] != $0.value })")
        #expect(try fixture.databaseDump() == dump)
        #expect(try fixture.runtime.status.restoreStatus().status == .error)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "staging is removed")
        return record
    }

    func backedUp(_ label: String) async throws -> (Fixture, BackupForgery) {
        let fixture = try Fixture(label)
        let record = try await fixture.backup()
        #expect(record.status == .completed, "\(record.message)")
        return (fixture, BackupForgery(try fixture.onlyBackup(), password: fixture.password))
    }

    // MARK: Without the password

    @Test func theBackupsCopyOfTheManifestNeverChoosesParametersOrPlugins() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-manifest")
        let marker = fixture.directory.sub("owned")
        var plain = try forgery.plain()
        let config = try #require(plain.manifest.components.firstIndex { $0.name == "config" })
        plain.manifest.components[config].parameters["reload_command"] = .array([.string("/bin/sh"), .string("-c"), .string("id > \(marker)")])
        try forgery.writePlain(plain)
        try fixture.mutateAppliance()
        let record = try await fixture.restore()
        #expect(record.status == .completed, "\(record.message)")
        #expect(try FileStatus.of(marker) == nil, "no command from the backup ran")

        // Another plugin for a component: the plain manifest no longer agrees with the index.
        plain.components[0].plugin = "fileset"
        try forgery.writePlain(plain)
        try await self.expectRefused(fixture, messageContains: "does not agree with its authenticated index")
    }

    @Test func componentNamesFromTheStoreAreChecked() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-names")
        var plain = try forgery.plain()
        var loot = try #require(plain.components.first { $0.name == "cloak_key" })
        loot.name = "../../../backups/loot-cloak_key"
        plain.components.append(loot)
        try forgery.writePlain(plain)
        let record = try await self.expectRefused(fixture, messageContains: "is not a valid component name")
        #expect(!record.message.contains("\n"))
        for place in [fixture.backups, fixture.directory.path, fixture.state] {
            #expect(try FileTree.names(in: place).allSatisfy { !$0.contains("loot") }, "nothing decrypted into \(place)")
        }
    }

    @Test func aComponentFileThatIsNotARegularFileIsRefusedAtOnce() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-devzero")
        let file = forgery.directory + "/ntp.tar.zst.gpg"
        try FileTree.remove(file)
        #expect(symlink("/dev/zero", file) == 0)
        try await self.expectRefused(fixture, messageContains: "ntp.tar.zst.gpg in backup \(forgery.name) is a symlink")
        try FileTree.remove(file)
        #expect(mkfifo(file, 0o600) == 0)
        try await self.expectRefused(fixture, messageContains: "ntp.tar.zst.gpg in backup \(forgery.name) is not a regular file")
    }

    @Test func aComponentFileIsReadNoFurtherThanItsRecordedSize() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-long")
        let file = forgery.directory + "/snmp.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data.append(Data(repeating: 0x41, count: 5 << 20))
        try BackupForgery.replaceFile(file, with: data)
        try await self.expectRefused(fixture, messageContains: "is longer than the")
    }

    @Test func anOldBackupCopiedAsTheNewestCountsForNothingAndTheRealOneIsRestored() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-rename")
        // The attacker copies the old backup under a newer name, with a plain manifest to match.
        let newer = fixture.backups + "/flowgateway-29991231T000000Z"
        #expect(try shell("cp -a \(forgery.directory) \(newer)").status == 0)
        let renamed = BackupForgery(newer, password: fixture.password)
        var plain = try renamed.plain()
        plain.name = renamed.name
        plain.createdEpoch = 32_503_593_600
        try renamed.writePlain(plain)
        try fixture.mutateAppliance()
        // Its authenticated index names the genuine backup, which is still here: the copy is not a
        // backup, its plain time counts for nothing, and the genuine one is restored.
        let record = try await fixture.restore()
        #expect(record.status == .completed && record.backup == forgery.name, "\(record.message)")
        #expect(record.message.contains("flowgateway-29991231T000000Z (a copy or rename of backup \(forgery.name)"), "\(record.message)")
        // By name, the copy is refused.
        try await self.expectRefused(fixture, messageContains: "backup flowgateway-29991231T000000Z in local \(fixture.backups) does not authenticate: a copy or rename of backup \(forgery.name)", backup: "flowgateway-29991231T000000Z")
    }

    @Test func aStrippedOrDowngradedIndexIsRefusedUnlessAskedFor() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-strip")
        try FileTree.remove(forgery.directory + "/" + SealedIndex.fileName)
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "\(forgery.name) (no authenticated index (index.json.gpg)")
        var plain = try forgery.plain()
        plain.formatVersion = 1
        try forgery.writePlain(plain)
        try await self.expectRefused(fixture, messageContains: "no complete, authenticated backup")
        try await self.expectRefused(fixture, messageContains: "does not authenticate: no authenticated index", backup: forgery.name)
        let record = try await fixture.restore(backup: forgery.name, allowUnauthenticated: true)
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.message.contains("has no authenticated index and was restored as its plain manifest describes it"))
    }

    @Test func swappedComponentFilesWithAMatchingPlainManifestAreRefused() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-swap")
        // Both files are genuine; the plain manifest is edited so that sizes and checksums match.
        let snmp = try FileTree.readFile(forgery.directory + "/snmp.tar.zst.gpg")
        let ntp = try FileTree.readFile(forgery.directory + "/ntp.tar.zst.gpg")
        try BackupForgery.replaceFile(forgery.directory + "/snmp.tar.zst.gpg", with: ntp)
        try BackupForgery.replaceFile(forgery.directory + "/ntp.tar.zst.gpg", with: snmp)
        var plain = try forgery.plain()
        let a = try #require(plain.components.firstIndex { $0.name == "snmp" })
        let b = try #require(plain.components.firstIndex { $0.name == "ntp" })
        (plain.components[a].size, plain.components[b].size) = (plain.components[b].size, plain.components[a].size)
        (plain.components[a].sha256, plain.components[b].sha256) = (plain.components[b].sha256, plain.components[a].sha256)
        try forgery.writePlain(plain)
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "does not agree with its authenticated index (component snmp)")
    }

    @Test func aDamagedIndexIsReportedAsSuch() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-index")
        let file = forgery.directory + "/" + SealedIndex.fileName
        var data = try FileTree.readFile(file)
        data[data.count - 30] ^= 0x01
        try BackupForgery.replaceFile(file, with: data)
        try await self.expectRefused(fixture, messageContains: "\(forgery.name) (its index does not authenticate")
    }

    @Test func namesAndMessagesFromTheStoreAreEscaped() async throws {
        let (fixture, _) = try await self.backedUp("hostile-escape")
        try FileTree.makePrivateDirectory(fixture.backups + "/evil\u{1B}[2J\nforged line")
        let record = try await fixture.restore(dryRun: true)
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.message.contains("evil\\u{1B}[2J\\nforged line"), "\(record.message)")
        #expect(!record.message.contains("\u{1B}") && !record.message.contains("\n"))
    }

    // MARK: With the password

    @Test func aRecordNamingPathsOutsideTheComponentIsRefused() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-record")
        let record = #"{"format":1,"patterns":["etc/snmp/snmpd.conf"],"entries":["etc/cron.d/pwn"],"missing":[]}"#
        try forgery.replaceComponent("snmp", tar: BackupForgery.tar([
            .init(name: FileSet.recordName, content: record),
            .init(name: "etc/cron.d/pwn", content: "* * * * * root id > /tmp/pwned\n"),
        ]))
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "names 'etc/cron.d/pwn', which is outside this component's declared paths")
        #expect(try FileStatus.of(fixture.root + "/etc/cron.d") == nil)
    }

    @Test func missingEntriesAndPatternsCannotRemoveOtherFiles() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-missing")
        let record = #"{"format":1,"patterns":["etc/*"],"entries":[],"missing":["etc/ntp.conf"]}"#
        try forgery.replaceComponent("snmp", tar: BackupForgery.tar([.init(name: FileSet.recordName, content: record)]))
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "would remove 'etc/ntp.conf', which is not one of this component's declared paths")
        #expect(try FileStatus.of(fixture.root + "/etc/ntp.conf") != nil)
    }

    @Test func aSymlinkPlantedByAnEarlierComponentIsNeverFollowed() async throws {
        let fixture = try Fixture("hostile-symlink")
        try fixture.directory.write("appliance/etc/app/app.conf", "a = 1\n")
        try fixture.directory.write("appliance/etc/app/sub/deep.conf", "b = 2\n")
        try fixture.directory.write("outside/keep.txt", "outside the appliance\n")
        let manifest = Manifest(appliance: "flowgateway", components: [
            ManifestComponent(name: "app", plugin: "fileset", parameters: ["paths": .array([.string("etc/app")])]),
            ManifestComponent(name: "deep", plugin: "fileset", parameters: ["paths": .array([.string("etc/app/sub/deep.conf")])]),
        ])
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        let forgery = BackupForgery(try fixture.onlyBackup(), password: fixture.password)
        // `app` now restores etc/app/sub as a link out of the appliance; `deep` writes below it next.
        try forgery.editComponent("app", scratch: fixture.directory.path) { tree in
            try FileTree.remove(tree + "/etc/app/sub")
            #expect(symlink("../../../outside", tree + "/etc/app/sub") == 0)
        }
        let outsideBefore = try TreeSnapshot(fixture.directory.sub("outside"))
        let before = try fixture.snapshot()
        let record = try await fixture.restore(manifest: manifest)
        #expect(record.status == .error, "\(record.message)")
        #expect(record.message.contains("would be reached through the symlink"), "\(record.message)")
        #expect(record.message.contains("the appliance was rolled back"), "\(record.message)")
        #expect(try TreeSnapshot(fixture.directory.sub("outside")) == outsideBefore, "nothing written outside the appliance")
        #expect(try fixture.snapshot() == before, "rolled back exactly")
    }

    @Test func setuidBitsAreRemovedUnlessTheComponentAllowsThem() async throws {
        let fixture = try Fixture("hostile-setuid")
        try fixture.directory.write("appliance/usr/lib/fg/helper", "#!/bin/sh\n", mode: 0o755)
        chmod(fixture.root + "/usr/lib/fg/helper", 0o4755)
        let component = { (allow: Bool) in
            Manifest(appliance: "flowgateway", components: [
                ManifestComponent(name: "helper", plugin: "fileset", parameters: ["paths": .array([.string("usr/lib/fg/helper")]), "allow_setid": .bool(allow)]),
            ])
        }
        #expect(try await fixture.backup(manifest: component(false)).status == .completed)
        let stripped = try await fixture.restore(manifest: component(false))
        #expect(stripped.status == .completed, "\(stripped.message)")
        #expect(stripped.message.contains("usr/lib/fg/helper: setuid/setgid removed"), "\(stripped.message)")
        #expect(try FileStatus.of(fixture.root + "/usr/lib/fg/helper")?.mode == 0o755)
        let allowed = try await fixture.restore(manifest: component(true))
        #expect(allowed.status == .completed, "\(allowed.message)")
        #expect(try FileStatus.of(fixture.root + "/usr/lib/fg/helper")?.mode == 0o4755)
    }

    @Test func devicesAndHardLinksInAnAuthenticBackupAreRefused() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-device")
        let record = #"{"format":1,"patterns":["etc/snmp/snmpd.conf"],"entries":["etc/snmp/snmpd.conf"],"missing":[]}"#
        try forgery.replaceComponent("snmp", tar: BackupForgery.tar([
            .init(name: FileSet.recordName, content: record),
            .init(name: "etc/snmp/snmpd.conf", type: .characterDevice),
        ]), entries: 2, contentBytes: UInt64(record.utf8.count))
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "is a device or special file")
        try forgery.replaceComponent("snmp", tar: BackupForgery.tar([
            .init(name: FileSet.recordName, content: record),
            .init(name: "etc/snmp/snmpd.conf", type: .hardLink, link: "etc/shadow"),
        ]), entries: 2, contentBytes: UInt64(record.utf8.count))
        try await self.expectRefused(fixture, messageContains: "is a hard link")
    }

    @Test func moreContentThanTheIndexRecordedStopsExtraction() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-bomb")
        let record = #"{"format":1,"patterns":["etc/snmp/snmpd.conf"],"entries":["etc/snmp/snmpd.conf"],"missing":[]}"#
        try forgery.replaceComponent("snmp", tar: BackupForgery.tar([
            .init(name: FileSet.recordName, content: record),
            .init(name: "etc/snmp/snmpd.conf", content: String(repeating: "x", count: 100_000)),
        ]), contentBytes: 1000)
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "more than the 1000 bytes of content its index recorded")
    }

    @Test func theConfigPluginRefusesRecordsNamingOtherPathsAndFakeFiles() async throws {
        let (fixture, forgery) = try await self.backedUp("hostile-sqlite")
        let secret = try fixture.directory.write("secret.txt", "outside the root\n", mode: 0o600)
        try forgery.editComponent("config", scratch: fixture.directory.path) { tree in
            let recordPath = tree + "/.gwbackup-sqlite-config.json"
            var record = try JSONSerialization.jsonObject(with: FileTree.readFile(recordPath)) as? [String: Any] ?? [:]
            var files = record["files"] as? [String: Any] ?? [:]
            files["etc/cron.d/pwn"] = ["link": false, "mode": 0o644, "uid": 0, "gid": 0, "mtime_ns": 0]
            record["files"] = files
            try BackupForgery.replaceFile(recordPath, with: try JSONSerialization.data(withJSONObject: record))
            try FileTree.makeDirectories(tree + "/files/etc/cron.d")
            try FileTree.writeAtomically(Data("* * * * * root id\n".utf8), to: tree + "/files/etc/cron.d/pwn")
        }
        try fixture.mutateAppliance()
        try await self.expectRefused(fixture, messageContains: "'etc/cron.d/pwn', which is outside this component's declared files")

        // A declared file staged as a symlink while its record says it is a regular file.
        let (fixture2, forgery2) = try await self.backedUp("hostile-sqlite-link")
        try forgery2.editComponent("config", scratch: fixture2.directory.path) { tree in
            let staged = tree + "/files/etc/flowgateway/flowgateway.conf"
            try FileTree.remove(staged)
            #expect(symlink(secret, staged) == 0)
        }
        try fixture2.mutateAppliance()
        try await self.expectRefused(fixture2, messageContains: "is not the regular file its record says")
        #expect(try !fixture2.directory.read("appliance/etc/flowgateway/flowgateway.conf").contains("outside the root"))
    }

    @Test func aRollbackAlsoRemovesTheDirectoriesTheRestoreCreated() async throws {
        let fixture = try Fixture("rollback-parents")
        try fixture.directory.write("plugins/breaks/plugin.json", #"{"id":"breaks","version":"1.0","protocol":1,"executable":"run.sh"}"#)
        try fixture.directory.write("plugins/breaks/run.sh", """
            #!/bin/sh
            if [ "$GWBACKUP_ACTION" = restore ] && [ "$GWBACKUP_ROLLBACK" = 0 ]; then echo "breaks on purpose" >&2; exit 1; fi
            echo '{"protocol":1,"status":"ok"}'
            """, mode: 0o755)
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "last", plugin: "breaks"))
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        // The appliance no longer has etc/snmp at all: the restore creates it, the rollback removes it.
        try FileTree.remove(fixture.root + "/etc/snmp")
        let dump = try fixture.databaseDump()
        let before = try fixture.snapshotWithoutDatabase()
        let record = try await fixture.restore(manifest: manifest)
        #expect(record.status == .error && record.message.contains("the appliance was rolled back"), "\(record.message)")
        #expect(try FileStatus.of(fixture.root + "/etc/snmp") == nil, "the directory the restore made is gone again")
        #expect(try fixture.snapshotWithoutDatabase() == before)
        #expect(try fixture.databaseDump() == dump)
    }
}

@testable import BackupArchive
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import BackupCrypto
import Crypto
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Backup and restore of the demo appliance")
struct EndToEndTests {
    @Test func aBackupOpensWithStockGPGAndTarToTheAppliancesFiles() async throws {
        let fixture = try Fixture()
        let record = try await fixture.backup()
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.subdir == (try fixture.onlyBackup()))
        let backup = try fixture.onlyBackup()
        let out = fixture.directory.sub("unpacked")
        try FileTree.makePrivateDirectory(out)
        for component in ["cloak_key", "snmp", "ntp", "certificates", "config"] {
            try FileTree.makePrivateDirectory(out + "/" + component)
            let result = try shell("""
                export GNUPGHOME=\(fixture.directory.sub("gnupg")); mkdir -p -m 700 $GNUPGHOME
                gpg --batch --pinentry-mode loopback --passphrase-file \(fixture.passwordFile) --decrypt \(backup)/\(component).tar.zst.gpg | zstd -dq | tar -xpf - -C \(out)/\(component)
                status=$?; gpgconf --kill gpg-agent; exit $status
                """)
            #expect(result.status == 0, "\(component): \(result.output)")
        }
        let appliance = try fixture.snapshot().entries
        // Every file the file-set components hold is the appliance's file: content, mode, owner, mtime.
        for component in ["cloak_key", "snmp", "ntp", "certificates"] {
            let unpacked = try TreeSnapshot(out + "/" + component, ignoring: [FileSet.recordName, ".gwbackup-ntp.json"]).entries
            let files = unpacked.filter { !$0.value.hasPrefix("directory") }
            #expect(!files.isEmpty)
            for (path, line) in files { #expect(appliance[path] == line, "\(component): \(path)") }
        }
        let config = try TreeSnapshot(out + "/config/files").entries.filter { !$0.value.hasPrefix("directory") }
        #expect(config.count == 3)
        for (path, line) in config { #expect(appliance[path] == line, "config: \(path)") }
        let dump = try fixture.databaseDump(out + "/config/config.db")
        #expect(dump == (try fixture.databaseDump()))
        #expect(dump.contains("fg-demo-01"))
    }

    @Test func aFormat1BackupStillVerifiesWithStockToolsAndRestoresOnPurpose() async throws {
        let fixture = try Fixture("format1")
        // A backup as format 1 wrote it: gpg's own compression, no index, no compression field.
        fixture.compressionLevel = nil
        let before = try fixture.snapshotWithoutDatabase()
        #expect(try await fixture.backup().status == .completed)
        let backup = try fixture.onlyBackup()
        #expect(try FileStatus.of(backup + "/config.tar.gpg") != nil)
        try FileTree.remove(backup + "/" + SealedIndex.fileName)
        let forgery = BackupForgery(backup, password: fixture.password)
        var plain = try forgery.plain()
        plain.formatVersion = 1
        for index in plain.components.indices { plain.components[index].compression = nil }
        try forgery.writePlain(plain)
        let stock = try shell("""
            export GNUPGHOME=\(fixture.directory.sub("gnupg")); mkdir -p -m 700 $GNUPGHOME; mkdir -p \(fixture.directory.sub("out"))
            gpg --batch --pinentry-mode loopback --passphrase-file \(fixture.passwordFile) --decrypt \(backup)/snmp.tar.gpg | tar -xpf - -C \(fixture.directory.sub("out"))
            status=$?; gpgconf --kill gpg-agent; exit $status
            """)
        #expect(stock.status == 0, "\(stock.output)")
        fixture.compressionLevel = BackupRuntime.defaultCompressionLevel
        let verifier = fixture.runtime.verifier(store: fixture.store)
        await #expect { _ = try await verifier.verify(backup: nil, passphrase: fixture.password) } throws: { error in
            (error as? BackupError)?.code == .unauthenticated
        }
        // Only by name: nothing the password does not vouch for is ever chosen as "the newest".
        let report = try await verifier.verify(backup: forgery.name, passphrase: fixture.password, allowUnauthenticated: true)
        #expect(report.ok && report.mode == "decrypt (unauthenticated)", "\(report)")
        try fixture.mutateAppliance()
        let record = try await fixture.restore(backup: forgery.name, allowUnauthenticated: true)
        #expect(record.status == .completed, "\(record.message)")
        let after = try fixture.snapshotWithoutDatabase()
        #expect(after == before, "\(after.filter { before[$0.key] != $0.value }) was \(before.filter { after[$0.key] != $0.value })")
    }

    @Test func restoreAfterChangesGivesBackTheBackedUpStateModesIncluded() async throws {
        let fixture = try Fixture()
        let before = try fixture.snapshotWithoutDatabase()
        let dump = try fixture.databaseDump()
        #expect(dump.hasSuffix("wal\n"), "the demo database uses WAL: \(dump)")
        #expect(try await fixture.backup().status == .completed)
        try fixture.mutateAppliance()
        #expect(try fixture.snapshotWithoutDatabase() != before)
        let record = try await fixture.restore()
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.components.allSatisfy { $0.status == .ok })
        #expect(try fixture.databaseDump() == dump)
        #expect(try fixture.snapshotWithoutDatabase() == before)
        #expect(try FileStatus.of(fixture.root + "/etc/flowgateway/rogue.conf") == nil)
    }

    @Test func noCertLeavesEveryCertificateBoundFileExactlyAsItWas() async throws {
        let fixture = try Fixture()
        let dump = try fixture.databaseDump()
        #expect(try await fixture.backup().status == .completed)
        try fixture.mutateAppliance()
        let mutated = try fixture.snapshot().entries
        let record = try await fixture.restore(noCert: true)
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.message.contains("no_cert: skipped cloak_key, snmp, ntp, certificates"))
        let after = try fixture.snapshot().entries
        for path in ["etc/snmp/snmpd.conf", "etc/ntp/ntp.keys", "etc/ntp.conf", "etc/flowgateway/certs/server.key", "etc/flowgateway/certs/server.crt"] {
            #expect(after[path] == mutated[path], "\(path) must not change under no_cert")
        }
        #expect(after["etc/flowgateway/vault/cloak.key"] == nil)
        #expect(try fixture.databaseDump() == dump)
        #expect(after["etc/flowgateway/rogue.conf"] == nil)
    }

    /// Runs a restore that must fail, and checks the appliance did not change by a byte.
    func expectFailedRestoreChangesNothing(_ fixture: Fixture, password: Secret? = nil, messageContains expected: String) async throws {
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        let dump = try fixture.databaseDump()
        let record = try await fixture.restore(password: password)
        #expect(record.status == .error)
        #expect(record.message.contains(expected), "\(record.message)")
        #expect(try fixture.snapshot() == before)
        #expect(try fixture.databaseDump() == dump)
        #expect(try fixture.runtime.status.restoreStatus().status == .error)
    }

    @Test func aWrongSecurityPasswordChangesNothing() async throws {
        let fixture = try Fixture()
        #expect(try await fixture.backup().status == .completed)
        try await self.expectFailedRestoreChangesNothing(fixture, password: Secret("not the password"), messageContains: "the security password opens none of the 1 backup(s)")
    }

    @Test(arguments: ["flip", "truncate", "remove"])
    func aDamagedComponentFileChangesNothing(damage: String) async throws {
        let fixture = try Fixture()
        #expect(try await fixture.backup().status == .completed)
        let file = try fixture.onlyBackup() + "/ntp.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        switch damage {
        case "flip": data[data.count / 2] ^= 0x20
        case "truncate": data = data.prefix(data.count - 10)
        default: break
        }
        try FileTree.remove(file)
        if damage != "remove" { try FileTree.writeAtomically(data, to: file) }
        let expected = ["flip": "does not match the SHA-256", "truncate": "truncated or altered", "remove": "missing from backup"][damage] ?? ""
        try await self.expectFailedRestoreChangesNothing(fixture, messageContains: expected)
    }

    @Test func aTarSlipEntryInAnAuthenticBackupChangesNothing() async throws {
        let fixture = try Fixture()
        #expect(try await fixture.backup().status == .completed)
        // An archive whose entry climbs out of the target, encrypted with the right password and
        // recorded with the right checksum: only the archive check stands between it and the disk.
        let content = Array("owned\n".utf8)
        var tar = TarHeader(name: "../../../escaped.txt", mode: 0o644, uid: 0, gid: 0, size: UInt64(content.count), mtime: 0, typeFlag: TarHeader.EntryType.regular.rawValue, linkName: "").encode()
        tar += content + [UInt8](repeating: 0, count: TarHeader.padding(UInt64(content.count)) + 1024)
        // The attacker knows the password: the file is recorded in both indexes, so it authenticates.
        try BackupForgery(try fixture.onlyBackup(), password: fixture.password).replaceComponent("snmp", tar: tar, entries: 1, contentBytes: UInt64(content.count))
        try await self.expectFailedRestoreChangesNothing(fixture, messageContains: "contains '..'")
        for escaped in [fixture.directory.path, fixture.directory.sub("state"), "/tmp"] {
            #expect(try FileStatus.of(escaped + "/escaped.txt") == nil)
        }
    }

    @Test func aRestorerFailingMidwayRollsEverythingBack() async throws {
        let fixture = try Fixture()
        try fixture.directory.write("plugins/breaks-on-restore/plugin.json", #"{"id":"breaks-on-restore","version":"1.0","protocol":1,"executable":"run.sh"}"#)
        try fixture.directory.write("plugins/breaks-on-restore/run.sh", """
            #!/bin/sh
            if [ "$GWBACKUP_ACTION" = restore ] && [ "$GWBACKUP_ROLLBACK" = 0 ]; then
              echo "restorer exploded" >&2; exit 1
            fi
            echo '{"protocol":1,"status":"ok"}'
            """, mode: 0o755)
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "last", plugin: "breaks-on-restore"))
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        try fixture.mutateAppliance()
        let before = try fixture.snapshotWithoutDatabase()
        let dump = try fixture.databaseDump()
        let record = try await fixture.restore(manifest: manifest)
        #expect(record.status == .error)
        #expect(record.message.contains("restorer exploded"), "\(record.message)")
        #expect(record.message.contains("the appliance was rolled back"), "\(record.message)")
        #expect(record.components.filter { $0.status == .rolledBack }.count == 5)
        #expect(record.components.last?.status == .failed)
        #expect(try fixture.databaseDump() == dump)
        #expect(try fixture.snapshotWithoutDatabase() == before)
    }

    @Test func linksPointingOutsideTheComponentSurviveBackupAndRestore() async throws {
        let fixture = try Fixture()
        try fixture.directory.write("appliance/etc/tz/zone.conf", "zone = UTC\n")
        symlink("/usr/share/zoneinfo/UTC", fixture.directory.sub("appliance/etc/tz/localtime"))
        symlink("../flowgateway/flowgateway.conf", fixture.directory.sub("appliance/etc/tz/main.conf"))
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "timezone", plugin: "fileset", parameters: ["paths": .array([.string("etc/tz")])]))
        let backup = try await fixture.backup(manifest: manifest)
        #expect(backup.status == .completed && backup.message.isEmpty, "\(backup.message)")
        try FileTree.remove(fixture.directory.sub("appliance/etc/tz"))
        let restore = try await fixture.restore(components: ["timezone"], manifest: manifest)
        #expect(restore.status == .completed, "\(restore.message)")
        #expect(try FileTree.readLink(fixture.directory.sub("appliance/etc/tz/localtime")) == "/usr/share/zoneinfo/UTC")
        #expect(try FileTree.readLink(fixture.directory.sub("appliance/etc/tz/main.conf")) == "../flowgateway/flowgateway.conf")
        #expect(try fixture.directory.read("appliance/etc/tz/zone.conf") == "zone = UTC\n")
    }

    @Test func aJobAskedToStopBeforeItsNextStepEndsInterruptedAndChangesNothing() async throws {
        let fixture = try Fixture()
        let backup = try await fixture.runtime.orchestrator().beginBackup(
            BackupRequest(target: fixture.target, store: fixture.store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        backup.cancellation.cancel(reason: "stop requested")
        let stopped = await backup.run()
        #expect(stopped.status == .error && stopped.message.contains("interrupted: stop requested") && stopped.message.contains("nothing was committed"), "\(stopped.message)")
        #expect(try FileTree.names(in: fixture.backups).isEmpty, "no backup and no partial directory left")

        #expect(try await fixture.backup().status == .completed)
        try fixture.mutateAppliance()
        let before = try fixture.snapshotWithoutDatabase()
        let dump = try fixture.databaseDump()
        let restore = try await fixture.runtime.orchestrator().beginRestore(
            RestoreRequest(target: fixture.target, store: fixture.store, manifest: try fixture.manifest(), securityPassword: fixture.password))
        restore.cancellation.cancel(reason: "stop requested")
        let record = await restore.run()
        #expect(record.status == .error && record.message.contains("interrupted: stop requested") && record.message.contains("the appliance was not changed"), "\(record.message)")
        #expect(try fixture.snapshotWithoutDatabase() == before && fixture.databaseDump() == dump)
    }

    @Test func aPluginDroppedIntoADirectoryWorksWithoutARebuild() async throws {
        let fixture = try Fixture()
        try fixture.directory.write("appliance/opt/license/license.txt", "licensed to ACME until 2030\n", mode: 0o640)
        try fixture.directory.write("plugins/license/plugin.json", """
            {"id":"license","version":"2.1","protocol":1,"executable":"license.sh",
             "parameters":{"file":{"type":"string","required":true,"path":true}}}
            """)
        try fixture.directory.write("plugins/license/license.sh", """
            #!/bin/sh
            set -e
            case "$GWBACKUP_ACTION" in
              collect) cp -p "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE" "$GWBACKUP_STAGING/license.txt" ;;
              restore) cp -p "$GWBACKUP_STAGING/license.txt" "$GWBACKUP_ROOT/$GWBACKUP_PARAM_FILE" ;;
            esac
            echo '{"protocol":1,"status":"ok"}'
            """, mode: 0o755)
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "license", plugin: "license", parameters: ["file": .string("opt/license/license.txt")]))
        let backup = try await fixture.backup(manifest: manifest)
        #expect(backup.status == .completed, "\(backup.message)")
        let index = try JSONDecoder().decode(BackupIndex.self, from: FileTree.readFile(try fixture.onlyBackup() + "/manifest.json"))
        #expect(index.components.last?.plugin == "license" && index.components.last?.pluginVersion == "2.1")
        try fixture.directory.write("appliance/opt/license/license.txt", "expired\n")
        let restore = try await fixture.restore(components: ["license"], manifest: manifest)
        #expect(restore.status == .completed, "\(restore.message)")
        #expect(try fixture.directory.read("appliance/opt/license/license.txt") == "licensed to ACME until 2030\n")
    }

    @Test func anOptionalFailureWarnsAndARequiredFailureCommitsNothing() async throws {
        let fixture = try Fixture()
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "extras", plugin: "sqlite-config", optional: true, parameters: ["database": .string("var/lib/nothing/missing.db"), "files": .array([.string("etc/nonexistent.conf")])]))
        try fixture.directory.write("appliance/var/lib/broken/config.db", "this is not a database")
        manifest.components.append(ManifestComponent(name: "broken", plugin: "sqlite-config", optional: true, parameters: ["database": .string("var/lib/broken/config.db")]))
        let optional = try await fixture.backup(manifest: manifest)
        #expect(optional.status == .completed)
        #expect(optional.message.contains("optional component broken was not backed up"), "\(optional.message)")
        #expect(optional.components.last?.status == .failed)

        manifest.components[manifest.components.count - 1].optional = false
        let required = try await fixture.backup(manifest: manifest)
        #expect(required.status == .error)
        #expect(required.message.contains("broken"), "\(required.message)")
        #expect(required.message.contains("nothing was committed"))
        #expect(try FileTree.names(in: fixture.backups).count == 1, "only the first backup, no leftovers")
        let status = try fixture.runtime.status.backupStatus()
        #expect(status.lastSuccessful?.backup == optional.backup)
        #expect(status.running.status == .error)
    }

    @Test func restoreTakesTheNewestCompleteBackupAndSaysWhatItIgnored() async throws {
        let fixture = try Fixture()
        let first = try await fixture.backup()
        try fixture.directory.write("appliance/etc/ntp.conf", "server second\n")
        // In the same second the second backup is named -1, which still sorts after the first.
        let second = try await fixture.backup()
        #expect(first.backup != second.backup)
        try fixture.directory.write("backups/\(StoredEntry.temporaryPrefix)flowgateway-29990101T000000Z/ntp.tar.gpg", "half")
        try fixture.directory.write("backups/flowgateway-29990101T000001Z/ntp.tar.gpg", "no manifest")
        try fixture.directory.write("backups/notes.txt", "operator notes")
        try fixture.directory.write("appliance/etc/ntp.conf", "server third\n")
        // A directory under a backup's name with neither manifest nor index may be the newest backup,
        // damaged: restore names it rather than fall back silently, until a backup is chosen.
        let refused = try await fixture.restore(components: ["ntp"])
        #expect(refused.status == .error && refused.message.contains("flowgateway-29990101T000001Z (incomplete: no manifest.json") && refused.message.contains("--backup"), "\(refused.message)")
        #expect(try fixture.directory.read("appliance/etc/ntp.conf") == "server third\n")
        let record = try await fixture.restore(components: ["ntp"], backup: second.backup)
        #expect(record.status == .completed, "\(record.message)")
        #expect(record.path.hasSuffix(second.backup ?? "?"))
        #expect(try fixture.directory.read("appliance/etc/ntp.conf") == "server second\n")
        #expect(record.message.contains("temporary"))
        #expect(record.message.contains("incomplete: no manifest.json"))
        #expect(record.message.contains("notes.txt (not a backup directory)"))
    }

    @Test func secretsNeverReachLogsStatusOrStateFiles() async throws {
        let fixture = try Fixture()
        _ = try await fixture.backup()
        _ = try await fixture.restore(password: Secret("a wrong password 42"))
        _ = try await fixture.restore()
        let grep = try shell("grep -rIl -e '\(fixture.password.revealed)' -e 'a wrong password 42' \(fixture.state) \(fixture.backups) /tmp/gwb-gpg-* 2>/dev/null")
        #expect(grep.output.isEmpty, "secret found in \(grep.output)")
        let logged = fixture.logLines.all.joined(separator: "\n")
        #expect(!logged.isEmpty)
        #expect(!logged.contains(fixture.password.revealed) && !logged.contains("a wrong password 42"))
        #expect(!(try fixture.runtime.status.restoreStatus().message.contains("42")))
    }

    @Test func dryRunAndVerifyCheckEverythingAndChangeNothing() async throws {
        let fixture = try Fixture()
        #expect(try await fixture.backup().status == .completed)
        try fixture.mutateAppliance()
        let before = try fixture.snapshot()
        let restoredBefore = try fixture.runtime.status.restoreStatus()
        let record = try await fixture.restore(dryRun: true)
        #expect(record.status == .completed && record.message.hasPrefix("dry run: 5 component(s)"), "\(record.message)")
        #expect(try fixture.snapshot() == before)
        // A dry run restored nothing: no restore in the status, none counted for the metrics.
        #expect(try fixture.runtime.status.restoreStatus() == restoredBefore)
        #expect(try fixture.runtime.status.statistics().restore.completed == 0)

        let verifier = fixture.runtime.verifier(store: fixture.store)
        #expect(try await verifier.verify(backup: nil, passphrase: fixture.password).ok)
        #expect(try await verifier.verify(backup: nil, passphrase: nil).ok)
        // A wrong password does not open the authenticated index: nothing of the backup is believed.
        await #expect { _ = try await verifier.verify(backup: nil, passphrase: Secret("nope")) } throws: { error in
            (error as? BackupError)?.code == .wrongPassword
        }
        let file = try fixture.onlyBackup() + "/certificates.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data[40] ^= 1
        try FileTree.remove(file)
        try FileTree.writeAtomically(data, to: file)
        let damaged = try await verifier.verify(backup: nil, passphrase: nil)
        #expect(!damaged.ok && damaged.components.first { $0.name == "certificates" }?.status == .failed)
    }

    @Test func aMismatchedKeyIsCaughtBeforeTheApplianceChanges() async throws {
        let fixture = try Fixture()
        let other = try BackupCertificatesTestSupport.otherKey()
        try fixture.directory.write("appliance/etc/flowgateway/certs/server.key", other, mode: 0o600)
        #expect(try await fixture.backup().status == .completed)
        try await self.expectFailedRestoreChangesNothing(fixture, messageContains: "the private key does not match the certificate")
    }
}

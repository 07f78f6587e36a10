import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// `restore --dry-run`'s preview and `gwbackup diff`, on the demo appliance with the shipped plugins.
@Suite("Restore preview and diff")
struct RestorePreviewTests {
    /// Where a staged path of the demo manifest's components lies on the appliance: sqlite-config
    /// stages `config.db` and `files/…`; the others stage paths relative to the root.
    static func appliancePath(_ component: String, _ staged: String) -> String? {
        guard component == "config" else { return staged }
        if staged == "config.db" { return "var/lib/flowgateway/config.db" }
        return staged.hasPrefix("files/") ? String(staged.dropFirst("files/".count)) : nil
    }

    /// The paths a record's changes name, on the appliance, with how each changes.
    static func reported(_ record: JobRecord) -> [String: FileChange.Kind] {
        var paths: [String: FileChange.Kind] = [:]
        for component in record.components {
            for file in component.changes?.files ?? [] {
                if let path = Self.appliancePath(component.name, file.path) { paths[path] = file.change }
            }
        }
        return paths
    }

    @Test func aDryRunChangesNothingAndReportsExactlyWhatTheRestoreThenChanges() async throws {
        let fixture = try Fixture("preview")
        #expect(try await fixture.backup().status == .completed)
        // Right after the backup, a preview finds nothing to change.
        let unchanged = try await fixture.restore(dryRun: true)
        #expect(unchanged.status == .completed, "\(unchanged.message)")
        #expect(Self.reported(unchanged).isEmpty, "\(Self.reported(unchanged))")
        #expect(unchanged.components.allSatisfy { $0.changes?.isEmpty == true }, "\(unchanged.components.map { ($0.name, $0.changes?.files ?? []) })")
        #expect(unchanged.message.contains("0 would change"), "\(unchanged.message)")

        try fixture.mutateAppliance()
        #expect(chmod(fixture.root + "/etc/ntp.conf", 0o600) == 0)
        let before = try TreeInventory(fixture.root)
        let preview = try await fixture.restore(dryRun: true)
        #expect(preview.status == .completed, "\(preview.message)")
        #expect(try TreeInventory(fixture.root) == before, "a dry run changed the appliance")
        let reported = Self.reported(preview)
        // What mutateAppliance did, as a restore undoes it.
        #expect(reported["etc/flowgateway/flowgateway.conf"] == .updated)
        #expect(reported["etc/flowgateway/rogue.conf"] == .removed)
        #expect(reported["etc/flowgateway/current.conf"] == .added)
        #expect(reported["etc/flowgateway/vault/cloak.key"] == .added)
        #expect(reported["var/lib/flowgateway/config.db"] == .updated)
        let ntp = try #require(preview.components.first { $0.name == "ntp" }?.changes?.files.first { $0.path == "etc/ntp.conf" })
        #expect(ntp.change == .updated && ntp.details == ["mode 600 -> 644"], "\(ntp)")
        // sqlite-config counts rows: mutateAppliance emptied `exporters`; the others kept theirs.
        let config = try #require(preview.components.first { $0.name == "config" }?.changes)
        #expect(config.counts == [CountChange(name: "rows in table exporters", before: 0, after: 3)], "\(config)")
        #expect(preview.components.first { $0.name == "config" }?.message.contains("rows in table exporters 0 -> 3") == true)
        let snmp = try #require(preview.components.first { $0.name == "snmp" }?.changes)
        #expect(snmp.updated == 1 && snmp.files.first?.details.contains("content") == true, "\(snmp)")

        let restored = try await fixture.restore()
        #expect(restored.status == .completed, "\(restored.message)")
        let changed = TreeComparison.changes(from: before, to: try TreeInventory(fixture.root))
        var actual: [String: FileChange.Kind] = [:]
        for file in changed.files { actual[file.path] = file.change }
        #expect(actual == reported, "the restore changed \(actual.sorted { $0.key < $1.key }); the preview said \(reported.sorted { $0.key < $1.key })")
        #expect(!actual.isEmpty)
    }

    @Test func diffComparesTwoBackupsAndABackupWithTheAppliance() async throws {
        let fixture = try Fixture("diff")
        let cli = CommandLineTests()
        let options = ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile]
        let first = try #require(try await fixture.backup().backup)
        try fixture.directory.write("appliance/etc/snmp/snmpd.conf", "rocommunity changed\n", mode: 0o600)
        try fixture.directory.write("appliance/etc/flowgateway/extra.conf", "new = 1\n")
        #expect(try shell("sqlite3 \(fixture.root)/var/lib/flowgateway/config.db \"INSERT INTO users VALUES ('third','viewer',1700000200);\"").status == 0)
        let second = try #require(try await fixture.backup().backup)
        #expect(first != second)

        let text = try await cli.gwbackup(["diff", first, second] + options)
        #expect(text.status == 0, "\(text.stdout)\(text.stderr)")
        #expect(text.stdout.contains("diff \(first) -> \(second): changed"), "\(text.stdout)")
        #expect(text.stdout.contains("updated  etc/snmp/snmpd.conf  (content)"), "\(text.stdout)")
        #expect(text.stdout.contains("added    files/etc/flowgateway/extra.conf"), "\(text.stdout)")

        let json = try await cli.gwbackup(["diff", first, second, "--json"] + options)
        let report = try JSONDecoder().decode(BackupDiff.Report.self, from: Data(json.stdout.utf8))
        #expect(report.changed && report.from == first && report.to == second)
        #expect(report.components.first { $0.name == "ntp" }?.changes?.isEmpty == true)
        #expect(report.components.first { $0.name == "config" }?.changes?.counts == [CountChange(name: "rows in table users", before: 2, after: 3)], "\(report)")
        #expect(text.stdout.contains("rows in table users 2 -> 3"), "\(text.stdout)")
        #expect(report.components.first { $0.name == "snmp" }?.changes?.updated == 1)
        let same = try JSONDecoder().decode(BackupDiff.Report.self, from: Data(try await cli.gwbackup(["diff", second, second, "--json"] + options).stdout.utf8))
        #expect(!same.changed)

        // The newest backup with the appliance: what changed since, seen from the backup.
        try FileTree.remove(fixture.root + "/etc/flowgateway/extra.conf")
        try fixture.directory.write("appliance/etc/ntp.conf", "server changed.example\n")
        let live = try await cli.gwbackup(["diff", "--json"] + options)
        #expect(live.status == 0, "\(live.stdout)\(live.stderr)")
        let since = try JSONDecoder().decode(BackupDiff.Report.self, from: Data(live.stdout.utf8))
        #expect(since.from == second && since.to == "appliance" && since.changed)
        #expect(since.components.first { $0.name == "config" }?.changes?.files.contains { $0.path == "files/etc/flowgateway/extra.conf" && $0.change == .removed } == true, "\(since)")
        #expect(since.components.first { $0.name == "ntp" }?.changes?.files.contains { $0.path == "etc/ntp.conf" && $0.change == .updated } == true, "\(since)")
        // Reading the appliance is no restore.
        #expect(try fixture.runtime.status.restoreStatus().status == .none)

        // A damaged component: the diff fails and names it; a wrong password opens nothing.
        let file = fixture.backups + "/" + second + "/snmp.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data[data.count - 3] ^= 0xFF
        try FileTree.remove(file)
        try FileTree.writeAtomically(data, to: file)
        let damaged = try await cli.gwbackup(["diff", first, second] + options)
        #expect(damaged.status != 0 && damaged.stderr.contains("snmp") && damaged.stderr.contains("SHA-256"), "\(damaged.stdout)\(damaged.stderr)")
        let wrong = try await cli.gwbackup(["diff", first, second, "--path", fixture.backups, "--state-dir", fixture.state], environment: ["GWBACKUP_SECURITY_PWD": "wrong"])
        #expect(wrong.status != 0 && wrong.stderr.contains("password"), "\(wrong.stderr)")
        #expect(try await cli.gwbackup(["diff", first, second, "--component", "ntp"] + options).status == 64)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "a diff left staging behind")
    }
}

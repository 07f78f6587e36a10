import BackupCore
import BackupModel
import BackupPOSIX
import Foundation
import GatewayBackupTestSupport
import Testing

/// `gwbackup drill`: a backup restored into a scratch root and read back, the appliance untouched.
@Suite("Restore drills")
struct RestoreDrillTests {
    func options(_ fixture: Fixture) -> [String] {
        ["--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile]
    }

    /// The value of an unlabelled gauge in a metrics file.
    func gauge(_ name: String, in file: String) throws -> Double? {
        let text = String(decoding: try FileTree.readFile(file), as: UTF8.self)
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last ?? "") }
    }

    @Test func aDrillRestoresIntoAScratchRootReadsItBackAndNeverTouchesTheAppliance() async throws {
        let fixture = try Fixture("drill")
        #expect(try await fixture.backup().status == .completed)
        let before = try TreeInventory(fixture.root, times: true)
        let metrics = fixture.directory.sub("gwbackup.prom")
        let drill = try await CommandLineTests().gwbackup(["drill", "--json", "--metrics-file", metrics] + self.options(fixture))
        #expect(drill.status == 0, "\(drill.stdout)\(drill.stderr)")
        let report = try JSONDecoder().decode(RestoreDrill.Report.self, from: Data(drill.stdout.utf8))
        #expect(report.ok && report.components.count == 5 && report.components.allSatisfy { $0.status == .ok }, "\(report)")
        #expect(try TreeInventory(fixture.root, times: true) == before, "the drill changed the appliance")
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty, "the drill left its scratch root or staging")
        #expect(try fixture.runtime.status.restoreStatus().status == .none, "a drill is no restore")
        let success = try #require(try self.gauge("gwbackup_last_drill_success_timestamp_seconds", in: metrics))
        let attempt = try self.gauge("gwbackup_last_drill_attempt_timestamp_seconds", in: metrics)
        #expect(success >= Double(report.started) && success == attempt)
        // A verification that decrypts everything is the other proof monitoring sees.
        #expect(try self.gauge("gwbackup_last_verified_timestamp_seconds", in: metrics) == 0)
        let verify = try await CommandLineTests().gwbackup(["verify", "--path", fixture.backups, "--state-dir", fixture.state, "--security-pwd-file", fixture.passwordFile])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
        #expect(try fixture.runtime.status.statistics().proofs.lastVerified ?? 0 >= report.started)
        let status = try await CommandLineTests().gwbackup(["status", "--state-dir", fixture.state, "--metrics-file", metrics])
        #expect(status.status == 0 && status.stdout.contains("last drill: passed ") && status.stdout.contains("last full verification: passed "), "\(status.stdout)")
        #expect(try self.gauge("gwbackup_last_verified_timestamp_seconds", in: metrics) ?? 0 >= Double(report.started))
    }

    @Test func aDrillOnADamagedBackupFailsAndNamesTheComponent() async throws {
        let fixture = try Fixture("drill-damaged")
        #expect(try await fixture.backup().status == .completed)
        let file = try fixture.onlyBackup() + "/snmp.tar.zst.gpg"
        var data = try FileTree.readFile(file)
        data[data.count / 2] ^= 0x01
        try FileTree.remove(file)
        try FileTree.writeAtomically(data, to: file)
        let metrics = fixture.directory.sub("gwbackup.prom")
        let drill = try await CommandLineTests().gwbackup(["drill", "--metrics-file", metrics] + self.options(fixture))
        #expect(drill.status == 1, "\(drill.stdout)\(drill.stderr)")
        #expect(drill.stdout.contains("drill FAILED"), "\(drill.stdout)")
        let line = try #require(drill.stdout.split(separator: "\n").first { $0.contains("snmp") })
        #expect(line.contains("failed") && line.contains("SHA-256"), "\(line)")
        #expect(drill.stdout.split(separator: "\n").filter { $0.contains(" ok ") }.count == 4, "\(drill.stdout)")
        #expect(try self.gauge("gwbackup_last_drill_success_timestamp_seconds", in: metrics) == 0)
        #expect(try self.gauge("gwbackup_last_drill_attempt_timestamp_seconds", in: metrics) ?? 0 > 0)
        #expect(try FileTree.names(in: fixture.state + "/staging").isEmpty)
        let status = try await CommandLineTests().gwbackup(["status", "--state-dir", fixture.state])
        #expect(status.stdout.contains("last drill: never passed; FAILED "), "\(status.stdout)")
        // A wrong password starts nothing.
        let wrong = try await CommandLineTests().gwbackup(["drill", "--path", fixture.backups, "--root", fixture.root, "--state-dir", fixture.state], environment: ["GWBACKUP_SECURITY_PWD": "wrong"])
        #expect(wrong.status != 0 && wrong.stdout.isEmpty && wrong.stderr.contains("password"), "\(wrong.stderr)")
    }

    /// A plugin whose restore does not put back what it collected: the round trip shows it. Its
    /// `activate` step, which would reload a service, is never run for a scratch root.
    @Test func aComponentThatDoesNotComeBackFailsTheDrillAndNothingIsActivated() async throws {
        let fixture = try Fixture("drill-forgetful")
        fixture.sandbox = false
        let canary = fixture.directory.sub("canary")
        try FileTree.makeDirectories(canary)
        try fixture.directory.write("plugins/forgetful/plugin.json", #"{"id":"forgetful","version":"1","protocol":1,"executable":"run.sh","actions":["activate"]}"#)
        try fixture.directory.write("plugins/forgetful/run.sh", """
            #!/bin/sh
            request=$(cat)
            field() { printf '%s' "$request" | python3 -c "import json, sys; print(json.load(sys.stdin)['$1'])"; }
            case "$request" in
            *'"collect"'*) mkdir -p "$(field stagingDirectory)/etc" && cp "$(field applianceRoot)/etc/forgetful.conf" "$(field stagingDirectory)/etc/" ;;
            *'"activate"'*) touch \(canary)/activated ;;
            esac
            echo '{"protocol":1,"status":"ok"}'

            """, mode: 0o755)
        try fixture.directory.write("appliance/etc/forgetful.conf", "kept nowhere\n")
        fixture.pluginDirectories = [fixture.directory.sub("plugins")]
        var manifest = try fixture.manifest()
        manifest.components.append(ManifestComponent(name: "forgetful", plugin: "forgetful"))
        #expect(try await fixture.backup(manifest: manifest).status == .completed)
        let drill = RestoreDrill(
            orchestrator: fixture.runtime.orchestrator(), store: fixture.store, passphrase: fixture.password, manifest: manifest)
        let report = try await drill.run()
        #expect(!report.ok)
        let forgetful = try #require(report.components.first { $0.name == "forgetful" })
        #expect(forgetful.status == .failed && forgetful.message.contains("differs from the backup") && forgetful.message.contains("etc/forgetful.conf removed"), "\(forgetful)")
        #expect(report.components.filter { $0.status == .ok }.count == 5)
        #expect(try FileTree.names(in: canary).isEmpty, "activate ran for a scratch root")
        #expect(try fixture.directory.read("appliance/etc/forgetful.conf") == "kept nowhere\n")
    }
}

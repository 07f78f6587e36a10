@testable import BackupCertificates
import BackupCore
import BackupModel
import BackupPOSIX
import BackupRuntime
import GatewayAPI
import Foundation
import GatewayBackupTestSupport
import Testing

@Suite("Shipped manifest and plugins")
struct ShippedFilesTests {
    /// docs/alerts.yml is valid, and each alert fires (and stays quiet) as docs/alerts.test.yml says.
    @Test func theShippedAlertRulesPassPromtool() throws {
        let docs = Fixture.repository + "/docs"
        let check = try shell("cd \(docs) && promtool check rules alerts.yml 2>&1 && promtool test rules alerts.test.yml 2>&1; echo \"rc=$?\"").output
        #expect(check.contains("SUCCESS: 10 rules found") && check.hasSuffix("rc=0\n"), "\(check)")
    }

    /// docs/gwbackup.service is hardened (issue 24: it rated 9.1 UNSAFE): `systemd-analyze security`
    /// at most 4.0 (the figure is printed), a stop timeout above the server's grace for a running
    /// job, and the configuration file the docs' schedules live in.
    @Test func theShippedUnitIsHardenedAndStopsAfterTheServersGrace() throws {
        let unit = Fixture.repository + "/docs/gwbackup.service"
        let text = String(decoding: try FileTree.readFile(unit), as: UTF8.self)
        // systemd-analyze names the unit after its file: a copy named as installed.
        let directory = try TemporaryDirectory("unit")
        try directory.write("gwbackup.service", text)
        let report = try shell("systemd-analyze security --offline=true \(directory.sub("gwbackup.service")) 2>&1").output
        let level = report.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        print("systemd-analyze security docs/gwbackup.service: \(level.map { String($0) } ?? "?")")
        #expect((level ?? 10) <= 4.0, "\(report)")
        let stop = text.split(separator: "\n").first { $0.hasPrefix("TimeoutStopSec=") }.flatMap { Int($0.dropFirst("TimeoutStopSec=".count)) }
        #expect((stop ?? 0) > Int(JobSupervisor.defaultShutdownGrace.components.seconds) + 2, "TimeoutStopSec must leave the server its grace and its log's drain")
        #expect(text.contains("serve --config /etc/gwbackup/serve.json"))
    }

    /// The Debian package's nightly backup service is hardened like the server (at most 4.0), and
    /// runs prune only after the backup (a failed ExecStart stops the unit before the next).
    @Test func thePackagedNightlyBackupUnitIsHardened() throws {
        let text = String(decoding: try FileTree.readFile(Fixture.repository + "/packaging/deb/gwbackup-backup.service"), as: UTF8.self)
        let directory = try TemporaryDirectory("unit")
        try directory.write("gwbackup-backup.service", text)
        let report = try shell("systemd-analyze security --offline=true \(directory.sub("gwbackup-backup.service")) 2>&1").output
        let level = report.split(separator: "\n").first { $0.contains("Overall exposure level") }
            .flatMap { line in line.split(separator: " ").compactMap { Double($0) }.first }
        print("systemd-analyze security packaging/deb/gwbackup-backup.service: \(level.map { String($0) } ?? "?")")
        #expect((level ?? 10) <= 4.0, "\(report)")
        let starts = text.split(separator: "\n").filter { $0.hasPrefix("ExecStart=") }
        #expect(starts.count == 2 && starts[0].contains(" backup ") && starts[1].contains(" prune "), "\(starts)")
        #expect(text.contains("Type=oneshot"))
    }

    /// The Debian layout: plugins under PREFIX/lib/gwbackup beside PREFIX/share/gwbackup; without
    /// that directory, plugins/ beside the manifests as in a checkout.
    @Test func pluginsAreFoundUnderLibBesideAShareDirectory() throws {
        let prefix = try TemporaryDirectory("prefix")
        try prefix.write("share/gwbackup/manifests/flowgateway.json", "{}")
        let share = ShippedResources(directory: prefix.sub("share/gwbackup"))
        #expect(share.pluginDirectory == prefix.sub("share/gwbackup/plugins"))
        try FileTree.makeDirectories(prefix.sub("lib/gwbackup/plugins"))
        #expect(share.pluginDirectory == prefix.sub("lib/gwbackup/plugins"))
        #expect(ShippedResources(directory: Fixture.repository).pluginDirectory == Fixture.repository + "/plugins")
    }

    /// docs/fleet-ca.sh: a certificate that names the appliance's address and verifies against the
    /// CA; a second CA over the first, a bad appliance name and a missing address are refused.
    @Test func theFleetCAIssuesCertificatesThatNameTheAddressesAndRefusesMisuse() throws {
        let directory = try TemporaryDirectory("fleet-ca")
        let script = Fixture.repository + "/docs/fleet-ca.sh"
        let ca = directory.sub("ca")
        #expect(try shell("\(script) \(ca) init >/dev/null 2>&1; echo rc=$?").output == "rc=0\n")
        let issued = try shell("\(script) \(ca) issue gw01 10.1.0.11 ::1 gw01.example.net 2>&1 && openssl verify -CAfile \(ca)/ca.crt \(ca)/gw01.crt && openssl x509 -in \(ca)/gw01.crt -noout -ext subjectAltName; echo rc=$?").output
        #expect(issued.contains("gw01.crt: OK") && issued.contains("IP Address:10.1.0.11") && issued.contains("DNS:gw01.example.net") && issued.hasSuffix("rc=0\n"), "\(issued)")
        #expect(try FileStatus.of(ca + "/gw01.key")?.mode == 0o600)
        let again = try shell("\(script) \(ca) init 2>&1; echo rc=$?").output
        #expect(again.contains("the fleet CA is made once") && again.hasSuffix("rc=1\n"), "\(again)")
        #expect(try shell("\(script) \(ca) issue '../evil' 10.0.0.1 2>&1; echo rc=$?").output.hasSuffix("rc=64\n"))
        #expect(try shell("\(script) \(ca) issue gw02 2>&1; echo rc=$?").output.hasSuffix("rc=64\n"))
        #expect(try FileStatus.of(directory.sub("evil.crt")) == nil)
    }

    @Test func theEmbeddedManifestIsTheShippedOne() throws {
        let shipped = try FileTree.readFile(Fixture.repository + "/manifests/flowgateway.json")
        #expect(String(decoding: shipped, as: UTF8.self) == EmbeddedManifest.flowgateway)
        let embedded = try ShippedResources(directory: nil).defaultManifest()
        #expect(embedded.source == "embedded manifest")
        #expect(embedded.0 == (try Manifest.load(path: Fixture.repository + "/manifests/flowgateway.json")))
    }

    @Test func theShippedManifestIsValidAndTagsTheVaultAsCertificateBound() throws {
        let runtime = try Fixture().runtime
        #expect(runtime.registry.problems.isEmpty, "\(runtime.registry.problems)")
        let manifest = try runtime.manifest(path: nil)
        #expect(ManifestValidator(registry: runtime.registry).validate(manifest).isEmpty)
        #expect(manifest.components.map(\.name) == ["config", "cloak_key", "snmp", "ntp", "certificates"])
        #expect(manifest.components.filter(\.isCertificateBound).map(\.name) == ["cloak_key", "snmp", "ntp", "certificates"])
    }

    @Test func everyBuiltInPluginsExampleParametersAreValid() {
        #expect(FileSetPlugin().parameterSchema.problems(in: FileSetPlugin.exampleParameters).isEmpty)
        #expect(CertificatesPlugin().parameterSchema.problems(in: CertificatesPlugin.exampleParameters).isEmpty)
        #expect(Set(BackupRuntime.builtInPlugins.map(\.id)) == ["fileset", "certificates"])
    }

    @Test func anExpiringCertificateWarnsAndAnExpiredOneToo() throws {
        let directory = try Fixture().directory
        let soon = try SelfSignedCertificate.make(commonName: "soon.example.net", days: 10)
        try directory.write("c/soon.crt", soon.certificatePEM)
        try directory.write("c/soon.key", soon.privateKeyPEM, mode: 0o600)
        let report = try CertificatesPlugin.check(certificate: directory.sub("c/soon.crt"), key: directory.sub("c/soon.key"), now: Date())
        #expect(report.warnings.count == 1 && report.warnings[0].contains("expires on"))
        let later = try CertificatesPlugin.check(certificate: directory.sub("c/soon.crt"), key: directory.sub("c/soon.key"), now: Date().addingTimeInterval(20 * 86400))
        #expect(later.warnings.count == 1 && later.warnings[0].contains("expired on"))
        try directory.write("c/garbage.crt", "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
        #expect(throws: BackupError.self) {
            _ = try CertificatesPlugin.check(certificate: directory.sub("c/garbage.crt"), key: directory.sub("c/soon.key"), now: Date())
        }
    }
}

import BackupCore
import BackupModel
import BackupPOSIX
import BackupSFTP
import Foundation
import GatewayAPI
import GatewayBackupTestSupport
import Testing

/// Bad input to the places operators type into: host-key policies, API users, server configuration.
@Suite("Operator input")
struct ConfigurationInputTests {
    @Test func hostKeyPoliciesParseOrSayWhatIsAccepted() throws {
        #expect(try HostKeyPolicy(parsing: "accept-new") == .acceptNew)
        #expect(try HostKeyPolicy(parsing: "strict") == .strict)
        #expect(try HostKeyPolicy(parsing: "fingerprint:SHA256:abc") == .fingerprint("SHA256:abc"))
        for bad in ["trust-all", "fingerprint:", "fingerprint:SHA256:", "fingerprint:MD5:aa"] {
            #expect {
                _ = try HostKeyPolicy(parsing: bad)
            } throws: { ($0 as? BackupError)?.message.contains("use accept-new, strict or fingerprint:SHA256:") == true }
        }
    }

    @Test func userStoreRefusesBadNamesShortPasswordsAndUnknownUsers() throws {
        let directory = try TemporaryDirectory("users")
        let users = UserStore(path: directory.sub("state/users.json"))
        try users.set("operator", password: Secret("long enough"), mustExist: false)
        #expect(try users.verify("operator", password: "long enough"))
        #expect(try !users.verify("operator", password: "wrong"))
        #expect(try !users.verify("nobody", password: "long enough"))
        #expect(throws: BackupError.self) { try users.set("bad:name", password: Secret("long enough")) }
        #expect(throws: BackupError.self) { try users.set("short", password: Secret("1234567")) }
        #expect(throws: BackupError.self) { try users.set("operator", password: Secret("long enough"), mustExist: false) }
        #expect(throws: BackupError.self) { try users.set("ghost", password: Secret("long enough"), mustExist: true) }
        #expect(throws: BackupError.self) { try users.remove("ghost") }
        let stored = try String(decoding: FileTree.readFile(users.path), as: UTF8.self)
        #expect(!stored.contains("long enough") && stored.contains("$2b$"))
        #expect(try FileStatus.of(users.path)?.mode == 0o600)
        try directory.write("state/users.json", "{broken")
        #expect(throws: BackupError.self) { _ = try users.names() }
    }

    @Test func serverConfigurationReportsBadValues() throws {
        var configuration = APIConfiguration()
        configuration.listen = "[::1]:9443"
        #expect(try configuration.address() == ("::1", 9443))
        for bad in ["no-port", "host:99999", "host:abc"] {
            configuration.listen = bad
            #expect(throws: BackupError.self) { _ = try configuration.address() }
        }
        let directory = try TemporaryDirectory("config")
        try directory.write("partial.json", #"{"listen": "127.0.0.1:1234"}"#)
        let partial = try APIConfiguration.load(path: directory.sub("partial.json"))
        #expect(partial.listen == "127.0.0.1:1234" && partial.backupDirectory == APIConfiguration().backupDirectory)
        try directory.write("typed.json", #"{"maxBodyBytes": "large"}"#)
        #expect {
            _ = try APIConfiguration.load(path: directory.sub("typed.json"))
        } throws: { ($0 as? BackupError)?.message.contains("maxBodyBytes") == true }
        // A job's width and priority: defaults, values, and values out of range.
        #expect(partial.jobs == nil && partial.jobNiceness == 10)
        try directory.write("jobs.json", #"{"jobs": 3, "jobNiceness": 0}"#)
        let jobs = try APIConfiguration.load(path: directory.sub("jobs.json"))
        #expect(jobs.jobs == 3 && jobs.jobNiceness == 0)
        for (text, key) in [(#"{"jobs": 0}"#, "jobs"), (#"{"jobs": 65}"#, "jobs"), (#"{"jobNiceness": 20}"#, "jobNiceness"), (#"{"jobNiceness": -5}"#, "jobNiceness")] {
            try directory.write("bad-jobs.json", text)
            #expect {
                _ = try APIConfiguration.load(path: directory.sub("bad-jobs.json"))
            } throws: { ($0 as? BackupError)?.message.contains(key) == true }
        }
    }
}

/// Files that can make gwbackup run code obey the ownership rule up to `/` (issue 22).
@Suite("Trusted paths")
struct TrustedPathTests {
    @Test func aFileOthersCanWriteOrReachedThroughADirectoryOthersCanWriteIsRefused() throws {
        let directory = try TemporaryDirectory("trusted")
        try directory.write("ok/manifest.json", "{}", mode: 0o644)
        try TrustedPath.check(directory.sub("ok/manifest.json"), what: "manifest")
        try directory.write("open/manifest.json", "{}", mode: 0o666)
        chmod(directory.sub("open/manifest.json"), 0o666)
        #expect { try TrustedPath.check(directory.sub("open/manifest.json"), what: "manifest") } throws: {
            ($0 as? BackupError)?.message.contains("open/manifest.json can be written by others (mode 666)") == true
        }
        // A writable directory anywhere above: whoever can write it can swap what is below.
        try directory.write("above/deep/plugin/plugin.json", "{}", mode: 0o644)
        chmod(directory.sub("above"), 0o777)
        #expect { try TrustedPath.check(directory.sub("above/deep/plugin/plugin.json"), what: "plugin descriptor") } throws: {
            ($0 as? BackupError)?.message.contains("trusted") == true && ($0 as? BackupError)?.message.contains("above can be written by others (mode 777)") == true
        }
        // A link to an untrusted file is judged by what it resolves to.
        #expect(symlink(directory.sub("open/manifest.json"), directory.sub("ok/link.json")) == 0)
        #expect(throws: BackupError.self) { try TrustedPath.check(directory.sub("ok/link.json"), what: "manifest") }
        // Another user's file.
        try directory.write("ok/theirs.json", "{}", mode: 0o644)
        #expect(chown(directory.sub("ok/theirs.json"), 65534, 65534) == 0)
        #expect { try TrustedPath.check(directory.sub("ok/theirs.json"), what: "configuration") } throws: {
            ($0 as? BackupError)?.message.contains("belongs to user 65534") == true
        }
    }

    @Test func serveRefusesAManifestOrConfigurationOthersCanWrite() async throws {
        let fixture = try Fixture("trusted-serve")
        let manifest = fixture.directory.sub("manifest.json")
        try FileTree.writeAtomically(try JSONCoding.encoder().encode(try fixture.manifest()), to: manifest, mode: 0o666)
        chmod(manifest, 0o666)
        let cli = CommandLineTests()
        let withManifest = try await cli.gwbackup(["serve", "--listen", "127.0.0.1:0", "--state-dir", fixture.state, "--root", fixture.root, "--manifest", manifest], timeout: .seconds(60))
        #expect(withManifest.status != 0 && withManifest.stderr.contains("manifest.json can be written by others (mode 666)"), "\(withManifest.stderr)")
        let backup = try await cli.gwbackup(["backup", "--manifest", manifest] + cli.common(fixture), environment: ["GWBACKUP_SECURITY_PWD": "x"])
        #expect(backup.status != 0 && backup.stdout.contains("can be written by others") || backup.stderr.contains("can be written by others"), "\(backup.stdout)\(backup.stderr)")
        let configuration = fixture.directory.sub("serve.json")
        try FileTree.writeAtomically(Data(#"{"listen": "127.0.0.1:0"}"#.utf8), to: configuration, mode: 0o666)
        chmod(configuration, 0o666)
        let withConfiguration = try await cli.gwbackup(["serve", "--config", configuration, "--state-dir", fixture.state, "--root", fixture.root], timeout: .seconds(60))
        #expect(withConfiguration.status != 0 && withConfiguration.stderr.contains("serve.json can be written by others (mode 666)"), "\(withConfiguration.stderr)")
        let plugins = fixture.directory.sub("open-plugins")
        try FileTree.makeDirectories(plugins, mode: 0o755)
        chmod(plugins, 0o777)
        let withPlugins = try await cli.gwbackup(["serve", "--listen", "127.0.0.1:0", "--state-dir", fixture.state, "--root", fixture.root, "--plugin-dir", plugins], timeout: .seconds(60))
        #expect(withPlugins.status != 0 && withPlugins.stderr.contains("open-plugins can be written by others (mode 777)"), "\(withPlugins.stderr)")
    }
}

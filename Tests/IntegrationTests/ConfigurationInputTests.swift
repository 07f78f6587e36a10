import BackupCore
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

import BackupCore
import BackupModel
import BackupPOSIX
import BackupDemo
import BackupRuntime
import Foundation
import GatewayBackupTestSupport
import Logging

/// A demo appliance, a backup directory, a state directory and a runtime wired with the real GPGME
/// cipher, tar archive and the shipped plugins: one per test.
final class Fixture {
    static let repository: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()

    let directory: TemporaryDirectory
    let password = Secret("correct horse battery staple")
    let logLines = RecordingLogHandler.Lines()
    var pluginDirectories: [String] = []
    /// The zstd level backups use; nil writes archives as format 1 did (gpg's own compression).
    var compressionLevel: Int32? = BackupRuntime.defaultCompressionLevel
    /// False runs external plugin steps as `--no-sandbox` does.
    var sandbox = true

    var root: String { self.directory.sub("appliance") }
    var backups: String { self.directory.sub("backups") }
    var state: String { self.directory.sub("state") }
    var passwordFile: String { self.directory.sub("security.pwd") }

    init(_ label: String = "e2e") throws {
        self.directory = try TemporaryDirectory(label)
        try DemoAppliance(root: self.root).write()
        try FileTree.writeAtomically(Data((self.password.revealed + "\n").utf8), to: self.passwordFile)
    }

    var runtime: BackupRuntime {
        BackupRuntime(
            settings: .init(
                stateDirectory: self.state, applianceRoot: self.root, pluginDirectories: self.pluginDirectories,
                resources: ShippedResources(directory: Self.repository), compressionLevel: self.compressionLevel,
                sandboxPluginSteps: self.sandbox),
            logger: RecordingLogHandler.logger(self.logLines))
    }

    var target: StorageTarget { StorageTarget(host: "localhost", username: "mazu", path: self.backups) }
    var store: LocalBackupStore { LocalBackupStore(path: self.backups) }

    func manifest() throws -> Manifest {
        try self.runtime.manifest(path: nil)
    }

    func backup(manifest: Manifest? = nil, password: Secret? = nil) async throws -> JobRecord {
        let request = BackupRequest(target: self.target, store: self.store, manifest: try manifest ?? self.manifest(), securityPassword: password ?? self.password)
        return try await self.runtime.orchestrator().backup(request)
    }

    func restore(password: Secret? = nil, noCert: Bool = false, components: [String] = [], dryRun: Bool = false, manifest: Manifest? = nil, backup: String? = nil, allowUnauthenticated: Bool = false) async throws -> JobRecord {
        let request = RestoreRequest(
            target: self.target, store: self.store, manifest: try manifest ?? self.manifest(), securityPassword: password ?? self.password, noCert: noCert,
            components: components, dryRun: dryRun, backup: backup, allowUnauthenticated: allowUnauthenticated)
        return try await self.runtime.orchestrator().restore(request)
    }

    /// The appliance as a restore must leave it.
    func snapshot() throws -> TreeSnapshot {
        try TreeSnapshot(self.root)
    }

    /// The appliance without the database file, whose bytes sqlite rewrites on restore (same rows,
    /// new page layout): compare it with `databaseDump()` instead.
    func snapshotWithoutDatabase() throws -> [String: String] {
        var entries = try self.snapshot().entries
        entries["var/lib/flowgateway/config.db"] = nil
        return entries
    }

    /// The one committed backup's directory.
    /// A file named `name` in any job's staging area under the state directory (how a sandboxed
    /// plugin, which may write only its staging directory, tells a test it got somewhere), or nil.
    func stagedFile(named name: String) throws -> String? {
        let base = self.state + "/staging"
        guard try FileStatus.of(base) != nil else { return nil }
        var pending = [(base, 0)]
        while let (directory, depth) = pending.popLast() {
            for child in (try? FileTree.names(in: directory)) ?? [] {
                let path = directory + "/" + child
                if child == name { return path }
                if depth < 4, (try? FileStatus.of(path))??.kind == .directory { pending.append((path, depth + 1)) }
            }
        }
        return nil
    }

    func onlyBackup() throws -> String {
        let names = try FileTree.names(in: self.backups).filter { !$0.hasPrefix(".") }
        guard names.count == 1 else { throw BackupError(.notFound, "expected one backup, found \(names)") }
        return self.backups + "/" + names[0]
    }

    /// Changes every component's files: content, modes, new and deleted files.
    func mutateAppliance() throws {
        try self.directory.write("appliance/etc/flowgateway/flowgateway.conf", "hostname = hijacked\n", mode: 0o666)
        try self.directory.write("appliance/etc/flowgateway/rogue.conf", "appeared after the backup\n")
        try FileTree.remove(self.directory.sub("appliance/etc/flowgateway/current.conf"))
        try self.directory.write("appliance/etc/snmp/snmpd.conf", "rocommunity public\n", mode: 0o644)
        try self.directory.write("appliance/etc/ntp/ntp.keys", "1 MD5 weak\n", mode: 0o644)
        try FileTree.remove(self.directory.sub("appliance/etc/flowgateway/vault/cloak.key"))
        try self.directory.write("appliance/etc/flowgateway/certs/server.key", "not a key\n", mode: 0o644)
        let sql = try shell("sqlite3 \(self.root)/var/lib/flowgateway/config.db \"UPDATE settings SET value='evil' WHERE key='hostname'; DELETE FROM exporters;\"")
        guard sql.status == 0 else { throw BackupError(.system, sql.output) }
    }

    /// The configuration database's content, as SQL, and its journal mode.
    func databaseDump(_ path: String? = nil) throws -> String {
        try shell("sqlite3 \(path ?? self.root + "/var/lib/flowgateway/config.db") .dump 'PRAGMA journal_mode'").output
    }
}

extension Pruner {
    /// `run`, on a thread of its own: it blocks on the store and on gpg for seconds, and an async test
    /// that blocks Swift's cooperative pool (a thread per core) starves every other test's server.
    func runOffPool(dryRun: Bool) async throws -> Report {
        try await Blocking.run { try self.run(dryRun: dryRun) }
    }
}
